#!/usr/bin/env bash
# The whole check, as CI runs it: dependencies, a Release build, then every CTest test. Exits with
# ctest's status.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh
scripts/build.sh
exec ctest --test-dir build --output-on-failure -j2
