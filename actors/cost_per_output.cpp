#include "actors/cost_per_output.hpp"

#include <set>

namespace loom {
namespace {

// The stage and every stage it reads from, directly or not.
std::set<std::string> upstream_of(const graph_def& graph, const std::string& sink) {
  std::set<std::string> seen{sink};
  std::vector<std::string> todo{sink};
  while (!todo.empty()) {
    auto name = std::move(todo.back());
    todo.pop_back();
    for (const auto& edge : graph.find(name)->inputs)
      if (seen.insert(edge.from_stage).second) todo.push_back(edge.from_stage);
  }
  return seen;
}

}  // namespace

void add_costs(const graph_def& graph, run_stats& stats) {
  bool priced = false, metered = false;
  for (const auto& stage : graph.stages) {
    const auto& declared = graph.device_of(stage);
    auto& device = stats.devices[declared.name];
    device.kind = declared.kind;
    const double busy = stats.stages[stage.name].busy_seconds;
    device.busy_seconds += busy;
    if (declared.cost_per_hour) {
      device.cost = device.cost.value_or(0) + busy * *declared.cost_per_hour / 3600.0;
      priced = true;
    }
    if (declared.watts) {
      device.energy_j = device.energy_j.value_or(0) + busy * *declared.watts;
      metered = true;
    }
  }
  if (!priced && !metered) return;
  for (auto& [name, sink] : stats.sinks) {
    if (sink.packets == 0) continue;
    double cost = 0, energy = 0;
    for (const auto& stage_name : upstream_of(graph, name)) {
      const auto& declared = graph.device_of(*graph.find(stage_name));
      const double busy = stats.stages[stage_name].busy_seconds;
      cost += busy * declared.cost_per_hour.value_or(0) / 3600.0;
      energy += busy * declared.watts.value_or(0);
    }
    const double packets = static_cast<double>(sink.packets);
    if (priced) sink.cost_per_output = cost / packets;
    if (metered) sink.energy_j_per_output = energy / packets;
  }
}

}  // namespace loom
