// Runs a graph given as TOML text in-process and returns its stats, for runtime tests.
#pragma once

#include <stdexcept>
#include <string>
#include <vector>

#include "actors/runtime.hpp"
#include "graphs/load.hpp"
#include "stages/registry.hpp"

namespace loom::test {

struct ran {
  run_result result;
  std::vector<std::string> log;
};

inline graph_def load_text(const std::string& toml, stage_registry& registry,
                           const std::vector<std::string>& overrides = {}) {
  auto loaded = load_graph_text(toml, "test.toml", overrides, registry);
  if (!loaded.graph) {
    std::string errors;
    for (const auto& d : loaded.errors) errors += format(d) + "\n";
    throw std::runtime_error("graph did not load:\n" + errors);
  }
  return std::move(*loaded.graph);
}

inline ran run_text(const std::string& toml, stage_registry& registry,
                    const std::atomic<int>* stop = nullptr) {
  auto graph = load_text(toml, registry);
  ran out;
  run_options options;
  options.stop_requests = stop;
  options.log = [&out](const std::string& line) { out.log.push_back(line); };
  out.result = run_graph(graph, options);
  return out;
}

}  // namespace loom::test
