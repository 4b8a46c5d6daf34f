#include "actors/scheduler_config.hpp"

#include <algorithm>
#include <thread>

namespace loom {

bool runs_on_own_thread(const graph_def& graph, const stage_def& stage) {
  const auto& declared = graph.device_of(stage);
  return !declared.cores.empty() || declared.kind != "cpu" || stage.spec->blocking;
}

const stage_def* consumer_on_producer_thread(const graph_def& graph, const stage_def& producer) {
  if (!producer.spec->blocking) return nullptr;
  const stage_def* only = nullptr;
  for (const auto& s : graph.stages)
    for (const auto& edge : s.inputs) {
      if (edge.from_stage != producer.name) continue;
      if (only) return nullptr;
      only = &s;
    }
  if (!only || only->replicas != 1 || runs_on_own_thread(graph, *only)) return nullptr;
  return only;
}

std::size_t scheduler_workers(const graph_def& graph, std::size_t cores) {
  std::size_t on_workers = 0;
  for (const auto& s : graph.stages)
    if (!runs_on_own_thread(graph, s)) on_workers += static_cast<std::size_t>(s.replicas);
  return std::clamp<std::size_t>(on_workers, 1, std::max<std::size_t>(cores, 1));
}

caf::actor_system_config& tune_scheduler(caf::actor_system_config& config,
                                         const graph_def& graph) {
  config.set("scheduler.max-threads",
             scheduler_workers(graph, std::thread::hardware_concurrency()));
  config.set("work-stealing.aggressive-poll-attempts", std::size_t{1000});
  return config.set("work-stealing.moderate-poll-attempts", std::size_t{0});
}

}  // namespace loom
