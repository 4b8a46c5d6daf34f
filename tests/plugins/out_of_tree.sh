#!/usr/bin/env bash
# The plugin_out_of_tree test: installs the loom built in BUILD_DIR into a temporary prefix,
# builds the example plugin against that installation alone, exactly as its README says, and runs
# the example's graph with the installed `loom`. Passes when the sink received every packet the
# source emitted.
#
#   out_of_tree.sh BUILD_DIR EXAMPLE_DIR       (CMAKE names the cmake to use; default: cmake)
set -euo pipefail
build_dir=$1
example_dir=$2
cmake=${CMAKE:-cmake}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

"$cmake" --install "$build_dir" --prefix "$work/prefix"
# The graph names its plugin as "build/libloom_scale.so", relative to the graph file: copy the
# graph beside the plugin's build folder.
cp "$example_dir/graph.toml" "$work/"
"$cmake" -S "$example_dir" -B "$work/build" -DCMAKE_PREFIX_PATH="$work/prefix"
"$cmake" --build "$work/build"

# Run from elsewhere, so that the plugin path must resolve against the graph file's folder; the
# installed loom must find the installed libloom without help.
(cd / && env -u LD_LIBRARY_PATH "$work/prefix/bin/loom" run "$work/graph.toml" --stats json) \
  >"$work/stdout"

python3 - "$work/graph.toml" "$work/stdout" <<'PY'
import json
import sys
import tomllib

with open(sys.argv[1], "rb") as f:
    sent = tomllib.load(f)["stages"]["src"]["count"]
with open(sys.argv[2]) as f:
    lines = f.read().splitlines()
if not lines:
    sys.exit("loom run printed nothing on standard output")
last_line = lines[-1]
print(last_line)
received = json.loads(last_line)["sinks"]["sink"]["packets"]
if received != sent:
    sys.exit(f"the sink received {received} packets, the source emitted {sent}")
PY
