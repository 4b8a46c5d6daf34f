#!/usr/bin/env bash
# CPU per packet of each group of threads on a 1 MiB TCP edge (bench_tcp_edge), for judging a
# change to the edge: on a shared machine throughput swings by a third from run to run, the CPU
# the stage threads spend per packet far less (docs/benchmarks.md, "One graph edge over TCP").
#
#   bench/tcp_edge_cpu.sh [--build DIR] [--runs N] [SIDE...]     # SIDE: raw, loom, channel, shape
#
# Each run measures one side alone (`bench_tcp_edge --only SIDE`) and, one second into its span,
# counts every thread's CPU for a second with `perf stat --per-thread` (Debian: linux-perf), in
# the sending process and in the receiving one. The sides take turns, N runs each (default 8);
# printed are the medians per side, in µs per packet: ZeroMQ's I/O threads and everything else
# ("stage": loom's stage threads and workers, or the raw and shape sides' own threads), sending
# and receiving.
set -euo pipefail

build=build
runs=8
sides=()
while (($#)); do
  case "$1" in
    --build) build=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    -h | --help) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    raw | loom | channel | shape) sides+=("$1"); shift ;;
    *) echo "tcp_edge_cpu.sh: unknown argument '$1'; see --help" >&2; exit 2 ;;
  esac
done
((${#sides[@]})) || sides=(raw loom channel)
bench=$(realpath "$build/bench/bench_tcp_edge")
[[ -x $bench ]] || { echo "tcp_edge_cpu.sh: no $bench; build first (scripts/build.sh)" >&2; exit 2; }
command -v perf >/dev/null || { echo "tcp_edge_cpu.sh: needs perf (apt-get install linux-perf)" >&2; exit 2; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# One run of one side: "GB/s send_io send_stage receive_io receive_stage".
measure() {
  local side=$1
  "$bench" --size 1048576 --only "$side" --rounds 1 --seconds 4 >"$work/out" 2>&1 &
  local bench_pid=$!
  sleep 2.3  # set-up, and a second into the span
  local sender receiver
  sender=$(pgrep -f "^$bench --size" | head -1 || true)
  receiver=$(pgrep -f "^$bench --receive" | head -1 || true)
  if [[ -z $sender || -z $receiver ]]; then
    echo "tcp_edge_cpu.sh: the $side run had no sending or receiving process 2.3 s in:" >&2
    cat "$work/out" >&2
    exit 1
  fi
  perf stat --per-thread -x, -e task-clock -p "$sender" -o "$work/send" -- sleep 1 &
  perf stat --per-thread -x, -e task-clock -p "$receiver" -o "$work/receive" -- sleep 1
  wait
  local rate
  rate=$(grep -o "$side [0-9.]* GB/s" "$work/out" | awk '{print $2}')
  [[ -n $rate ]] || { echo "tcp_edge_cpu.sh: the $side run failed:" >&2; cat "$work/out" >&2; exit 1; }
  local line=$rate
  for process in send receive; do
    # perf's CSV: "THREAD-TID,msec,,task-clock,...": ms of CPU in the second counted.
    line+=" $(grep -v '^#' "$work/$process" | awk -F, -v rate="$rate" '
      NF > 3 { if ($1 ~ /^ZMQbg\/IO/) io += $2; else stage += $2 }
      END { packets = rate * 1e9 / 1048576; printf "%.1f %.1f", io * 1000 / packets, stage * 1000 / packets }')"
  done
  echo "$line"
  wait "$bench_pid" 2>/dev/null || true
}

for ((run = 1; run <= runs; ++run)); do
  for side in "${sides[@]}"; do
    echo "$side $(measure "$side")" >>"$work/all"
    echo "  run $run/$runs: $side done" >&2
  done
done

echo "1 MiB edge, medians of $runs runs per side; µs of CPU per packet"
printf '%-8s %8s %10s %12s %10s %12s\n' side GB/s "send I/O" "send stage" "recv I/O" "recv stage"
for side in "${sides[@]}"; do
  row=$side
  for column in 2 3 4 5 6; do
    row+=" $(awk -v s="$side" -v c="$column" '$1 == s { print $c }' "$work/all" | sort -g |
      awk '{ v[NR] = $1 } END { print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }')"
  done
  printf '%-8s %8.2f %10.1f %12.1f %10.1f %12.1f\n' $row
done
