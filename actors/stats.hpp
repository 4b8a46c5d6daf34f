// What a run reports: the `--stats json` summary of GRAPH_FORMAT.md, plus per-edge drops.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
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
  // Stages with `batch`: calls of process_batch, and the mean input sets per call.
  std::optional<std::uint64_t> batches;
  double batch_mean = 0;
  // The stage's own counters (stage_context::count), summed element by element over replicas.
  std::map<std::string, std::vector<std::uint64_t>> counters;
};

struct sink_stats {
  std::uint64_t packets = 0;
  std::uint64_t bytes = 0;
  double latency_p50_us = 0;
  double latency_p99_us = 0;
  // Estimated from the busy time of every stage upstream (actors/cost_per_output.hpp); only
  // when some device declares `cost_per_hour` / `watts`.
  std::optional<double> cost_per_output;
  std::optional<double> energy_j_per_output;
};

struct edge_stats {
  std::uint64_t sent = 0;
  std::uint64_t dropped = 0;
  std::uint64_t bytes_transferred = 0;  // moved between memory spaces on the way in
  std::string policy;
  std::size_t capacity = 0;
  // Across nodes: packets sent to a node that died before it accounted for them.
  std::uint64_t lost = 0;
  // Across nodes: "tcp" (ZeroMQ) or "shm" (shared memory, two nodes on one host); "" within one.
  std::string transport;
};

// One node of a deployment (graphs with [nodes]), as the coordinator saw it.
struct node_stats {
  std::string address;               // "" for the coordinator's own process
  std::string outcome;               // "completed", "interrupted", "failed" or "lost"
  double seconds = 0;                // its part's run time
  std::uint64_t peak_rss_bytes = 0;  // its process's
};

struct device_stats {
  std::string kind;
  double busy_seconds = 0;          // its stages' busy time, summed
  std::optional<double> cost;       // busy time at its `cost_per_hour`
  std::optional<double> energy_j;   // busy time at its `watts`
};

struct run_stats {
  std::string graph;
  double seconds = 0;
  std::map<std::string, stage_stats> stages;
  std::map<std::string, sink_stats> sinks;
  std::map<std::string, edge_stats> edges;  // "producer.port -> consumer.port"
  std::map<std::string, device_stats> devices;  // the devices stages ran on
  std::map<std::string, node_stats> nodes;      // deployments only; "" is the coordinator
  std::uint64_t bytes_copied = 0;
  std::uint64_t peak_rss_bytes = 0;  // summed over a deployment's processes
};

// One line of JSON, as `--stats json` prints it.
std::string to_json(const run_stats& stats);

// Peak resident set size of this process so far (VmHWM).
std::uint64_t peak_rss_bytes();

}  // namespace loom
