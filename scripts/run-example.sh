#!/usr/bin/env bash
# Builds loom and runs the flagship example: a synthetic source, a passthrough stage and a sink,
# 100000 packets, with the run's statistics as JSON on the last line.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh
scripts/build.sh
./build/cli/loom run examples/chain/chain.toml --stats json
