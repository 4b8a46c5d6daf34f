#!/usr/bin/env bash
# Builds loom and runs the flagship example (examples/multimodal/graph.toml): three requests of a
# prompt, a picture and a video clip through their encoders, a Mixture-of-Experts backbone sharded
# over two cores, and two diffusion decoders of a tiny trained model that write what the prompts
# say as PNGs and a clip (PNG frames and an MP4) to out/multimodal/. The run's statistics are the
# last line, as JSON.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh
scripts/build.sh
./build/cli/loom run examples/multimodal/graph.toml --stats json
echo "outputs: $(ls out/multimodal | tr '\n' ' ')" >&2
