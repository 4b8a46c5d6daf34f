#!/usr/bin/env bash
# Builds loom and runs the flagship example (examples/multimodal/graph.toml): a prompt, an image
# and a video clip through their encoders, a Mixture-of-Experts backbone sharded over two cores,
# and two diffusion decoders that write a PNG and a clip (PNG frames and an MP4) to
# out/multimodal/. The run's statistics are the last line, as JSON.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh
scripts/build.sh
./build/cli/loom run examples/multimodal/graph.toml --stats json
echo "outputs: $(ls out/multimodal | tr '\n' ' ')" >&2
