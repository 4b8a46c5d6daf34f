// Lookups on a validated graph.
#include "graphs/graph.hpp"

#include <stdexcept>

#include <fmt/format.h>

namespace loom {

std::string edge_label(const edge_def& e) {
  return fmt::format("{}.{} -> {}.{}", e.from_stage, e.from_port, e.to_stage, e.to_port);
}

std::string_view name_of(full_policy policy) {
  switch (policy) {
    case full_policy::block: return "block";
    case full_policy::drop_oldest: return "drop_oldest";
    case full_policy::drop_newest: return "drop_newest";
  }
  return "?";
}

const stage_def* graph_def::find(std::string_view stage) const {
  for (const auto& s : stages)
    if (s.name == stage) return &s;
  return nullptr;
}

const device_def& graph_def::device_of(const stage_def& stage) const {
  auto it = devices.find(stage.device);
  if (it == devices.end())
    throw std::out_of_range(
        fmt::format("stage '{}' is placed on device '{}', which the graph lacks", stage.name,
                    stage.device));
  return it->second;
}

std::vector<const edge_def*> graph_def::consumers(std::string_view stage,
                                                  std::string_view port) const {
  std::vector<const edge_def*> out;
  for (const auto& s : stages)
    for (const auto& e : s.inputs)
      if (e.from_stage == stage && e.from_port == port) out.push_back(&e);
  return out;
}

}  // namespace loom
