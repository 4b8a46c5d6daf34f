// What a run reports: the `--stats json` summary of GRAPH_FORMAT.md, plus per-edge drops.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace loom {

struct stage_stats {
  std::string type;
  std::string device;
  int replicas = 1;
  std::uint64_t packets_in = 0;
  std::uint64_t packets_out = 0;
  std::uint64_t dropped = 0;  // lost on the way in: full edges by policy, unmatched inputs
  std::uint64_t errors = 0;
  std::uint64_t restarts = 0;
  double busy_seconds = 0;    // time spent in the stage's own code
  std::vector<int> cpus;      // where that code actually ran
};

struct sink_stats {
  std::uint64_t packets = 0;
  std::uint64_t bytes = 0;
  double latency_p50_us = 0;
  double latency_p99_us = 0;
};

struct edge_stats {
  std::uint64_t sent = 0;
  std::uint64_t dropped = 0;
  std::string policy;
  std::size_t capacity = 0;
};

struct run_stats {
  std::string graph;
  double seconds = 0;
  std::map<std::string, stage_stats> stages;
  std::map<std::string, sink_stats> sinks;
  std::map<std::string, edge_stats> edges;  // "producer.port -> consumer.port"
  std::uint64_t bytes_copied = 0;
  std::uint64_t peak_rss_bytes = 0;
};

// One line of JSON, as `--stats json` prints it.
std::string to_json(const run_stats& stats);

// Peak resident set size of this process so far (VmHWM).
std::uint64_t peak_rss_bytes();

}  // namespace loom
