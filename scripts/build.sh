#!/usr/bin/env bash
# Configures and builds loom (Release) into ./build at the repository root. Extra arguments go to
# the configure step, e.g. scripts/build.sh -DLOOM_BUILD_BENCH=OFF.
set -euo pipefail
cd "$(dirname "$0")/.."

cmake -S . -B build -DCMAKE_BUILD_TYPE=Release "$@"
cmake --build build -j"$(nproc)"
