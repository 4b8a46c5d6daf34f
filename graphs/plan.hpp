// What `loom plan` shows before anything runs: where each stage runs and why, the transfers on
// edges that cross memory spaces, what each device holds, and which stage the cost model expects
// to limit the pipeline's rate. Everything comes from a loaded graph_def; nothing is opened.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "graphs/graph.hpp"

namespace loom {

struct stage_plan {
  std::string name;
  std::string type;
  std::string device;
  int replicas = 1;
  bool auto_placed = false;
  std::string reason;        // the planner's, when auto placed
  std::optional<batch_policy> batch;  // as the graph says
  double flops = 0;          // per call
  double compute_s = 0;      // per call, on its device
  double transfer_s = 0;     // moving its inputs to its device, per call
  double seconds_per_packet = 0;  // (compute + transfers) / replicas
};

struct transfer_plan {
  std::string from;          // "stage.port"
  std::string to;            // "stage.port"
  std::string from_device;
  std::string to_device;
  std::string route;         // "host to device", "peer copy", "staged through host memory"...
  std::size_t bytes_per_packet = 0;  // 0: not known before the run
  double seconds_per_packet = 0;
};

struct device_plan {
  std::string name;
  std::string kind;
  std::string memory_space;
  std::size_t memory_total = 0;    // 0: host memory, not limited by loom
  std::size_t resident_bytes = 0;  // what its stages keep while open
  std::size_t channel_bytes = 0;   // packets its stages' outputs may hold queued (capacity × size)
  std::vector<std::string> stages;
};

struct graph_plan {
  std::string graph;
  std::vector<stage_plan> stages;
  std::vector<transfer_plan> transfers;
  std::vector<device_plan> devices;
  std::string bottleneck;          // the stage with the longest time per packet
  double packets_per_second = 0;   // 1 / that time; 0 when no stage has a cost estimate
};

graph_plan plan_graph(const graph_def& graph);

std::string to_text(const graph_plan& plan);
std::string to_json(const graph_plan& plan);

}  // namespace loom
