#!/bin/sh
# Runs examples/cluster/graph.toml on this machine: two `loom node` processes (insecure, on
# loopback; see docs/connectors.md for keys) and the coordinator. Run from the repository root
# after scripts/build.sh; LOOM overrides the binary.
set -eu
LOOM=${LOOM:-build/cli/loom}
"$LOOM" node --listen 'tcp://*:7400' --insecure --once &
words=$!
"$LOOM" node --listen 'tcp://*:7500' --insecure --once &
pictures=$!
trap 'kill $words $pictures 2>/dev/null || true' EXIT
status=0
"$LOOM" run examples/cluster/graph.toml --insecure --stats json "$@" || status=$?
wait $words $pictures || true
ls out/cluster/
exit $status
