#!/usr/bin/env python3
"""Bounded memory: a source far faster than a slow sink (bench/graphs/slow_sink.toml).

With `block`, peak RSS must stay within baseline + (capacity + 2) x packet x edges, where the
baseline is the same graph run with a single packet, and nothing may be lost. (+2: the packet a
stalled producer holds back and the one its consumer is working on.) With `drop_oldest`,
delivered + dropped must equal produced, exactly.

    bench/bounded_memory.py [--loom build/cli/loom]
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
GRAPH = os.path.join(HERE, "graphs", "slow_sink.toml")


def run(loom, *overrides, graph=GRAPH):
    cmd = [loom, "run", graph, "--stats", "json"]
    for o in overrides:
        cmd += ["--set", o]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--loom", default=os.path.join(HERE, "..", "build", "cli", "loom"))
    parser.add_argument("--packets", type=int, default=600)
    args = parser.parse_args()

    packet = 1 << 20
    capacity = 16
    edges = 2
    baseline = run(args.loom, "src.count=1")["peak_rss_bytes"]
    blocked = run(args.loom, f"src.count={args.packets}")
    bound = baseline + (capacity + 2) * packet * edges
    peak = blocked["peak_rss_bytes"]
    delivered = blocked["sinks"]["sink"]["packets"]
    ok_block = peak <= bound and delivered == args.packets
    print(f"bounded memory, {args.packets} packets of 1 MiB, capacity {capacity}, "
          f"{edges} edges, sink sleeping 2 ms per packet")
    print(f"  block:       peak RSS {peak / 2**20:7.1f} MiB, bound {bound / 2**20:7.1f} MiB "
          f"(baseline {baseline / 2**20:.1f} MiB + {capacity + 2} x 1 MiB x {edges}) "
          f"-> {'within' if peak <= bound else 'OVER'}; delivered {delivered}/{args.packets}")

    with open(GRAPH) as f:
        text = f.read().replace('policy = "block"', 'policy = "drop_oldest"')
    with tempfile.NamedTemporaryFile("w", suffix=".toml") as dropping_graph:
        dropping_graph.write(text)
        dropping_graph.flush()
        dropping = run(args.loom, f"src.count={args.packets * 4}", graph=dropping_graph.name)
    produced = dropping["stages"]["src"]["packets_out"]
    dropped = sum(e["dropped"] for e in dropping["edges"].values())
    delivered = dropping["sinks"]["sink"]["packets"]
    ok_drop = delivered + dropped == produced
    print(f"  drop_oldest: produced {produced}, delivered {delivered}, dropped {dropped} -> "
          f"delivered + dropped {'==' if ok_drop else '!='} produced; "
          f"peak RSS {dropping['peak_rss_bytes'] / 2**20:.1f} MiB")
    return 0 if ok_block and ok_drop else 1


if __name__ == "__main__":
    sys.exit(main())
