#!/usr/bin/env bash
# Instructions per packet on one end of a zmq_sink → zmq_source edge, counted by valgrind's
# callgrind: the figure of the per-packet path that barely moves from run to run (±2 %), for
# judging a small change to it (throughput and CPU time on a shared machine move by more than
# such a change saves; docs/benchmarks.md, "One graph edge over TCP").
#
#   bench/edge_instructions.sh [--build DIR] [--size BYTES] [--end receive|send]
#
# Runs two graphs with `loom run --insecure` over tcp loopback — synthetic_source(shape [SIZE],
# u8) → zmq_sink in one process, zmq_source → null_sink in the other — with the measured end
# under callgrind, once for 500 packets and once for 2500, and prints the difference of the two
# processes' user-space instructions per packet: start-up and shutdown cancel out, what remains is
# the steady per-packet cost of that process's every thread, ZeroMQ's included (the kernel's
# copies are not counted). Defaults: build, 65536 bytes, receive. Needs valgrind and python3.
set -euo pipefail

build=build
size=65536
end=receive
while (($#)); do
  case "$1" in
    --build) build=$2; shift 2 ;;
    --size) size=$2; shift 2 ;;
    --end) end=$2; shift 2 ;;
    -h | --help) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "edge_instructions.sh: unknown argument '$1'; see --help" >&2; exit 2 ;;
  esac
done
[[ $end == receive || $end == send ]] || { echo "edge_instructions.sh: --end takes receive or send" >&2; exit 2; }
loom=$(realpath "$build/cli/loom")
[[ -x $loom ]] || { echo "edge_instructions.sh: no $loom; build first (scripts/build.sh)" >&2; exit 2; }
for tool in valgrind python3; do
  command -v $tool >/dev/null || { echo "edge_instructions.sh: needs $tool (apt-get install $tool)" >&2; exit 2; }
done

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# User-space instructions of the measured end for `count` packets.
instructions() {
  local count=$1 port
  port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  cat >"$work/receive.toml" <<TOML
[graph]
name = "edge_in"
version = 1
[stages.in]
type = "zmq_source"
endpoint = "tcp://127.0.0.1:$port"
senders = 1
[stages.sink]
type = "null_sink"
inputs.in = "in.out"
TOML
  cat >"$work/send.toml" <<TOML
[graph]
name = "edge_out"
version = 1
[stages.src]
type = "synthetic_source"
count = $count
shape = [$size]
dtype = "u8"
[stages.out]
type = "zmq_sink"
endpoint = "tcp://127.0.0.1:$port"
bind = false
inputs.in = "src.out"
TOML
  local receive=("$loom" run --insecure "$work/receive.toml")
  local send=("$loom" run --insecure "$work/send.toml")
  local measured=(valgrind --tool=callgrind --callgrind-out-file="$work/callgrind.out")
  rm -f "$work/callgrind.out"
  if [[ $end == receive ]]; then
    "${measured[@]}" "${receive[@]}" >"$work/receive.log" 2>&1 &
  else
    "${receive[@]}" >"$work/receive.log" 2>&1 &
  fi
  local receiver=$!
  sleep 3  # the receiving end binds before the sending end connects (valgrind starts slowly)
  local sent=0
  if [[ $end == send ]]; then
    "${measured[@]}" "${send[@]}" >"$work/send.log" 2>&1 || sent=$?
  else
    "${send[@]}" >"$work/send.log" 2>&1 || sent=$?
  fi
  local received=0
  wait "$receiver" || received=$?
  if ((sent || received)); then
    echo "edge_instructions.sh: a run of $count packets failed; its logs:" >&2
    cat "$work/send.log" "$work/receive.log" >&2
    exit 1
  fi
  awk '/^summary:/ { print $2 }' "$work/callgrind.out"
}

few=$(instructions 500)
many=$(instructions 2500)
echo "$end end, $size-byte packets: $(( (many - few) / 2000 )) instructions per packet" \
     "(callgrind: $few for 500 packets, $many for 2500)"
