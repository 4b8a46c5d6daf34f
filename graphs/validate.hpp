// Checks a parsed graph file and builds its graph_def: the top level, [graph], [plugins] (loaded
// into the registry before any stage type is looked up), [devices] and [stages].
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "graphs/diagnostics.hpp"
#include "graphs/graph.hpp"
#include "graphs/toml_tree.hpp"
#include "stages/registry.hpp"

namespace loom {

// Adds every error found to `errors`; the graph is returned when there was none. `local_node`
// is the node whose stages this process runs ("": the process that runs `loom run`): a device's
// `cores` are checked against this machine's CPUs only when a stage of that node uses the device
// (or none does), since another node's devices are that machine's, checked there at deploy.
std::optional<graph_def> validate_graph(const toml_node& root, const std::string& file,
                                        stage_registry& registry, std::vector<diagnostic>& errors,
                                        const std::string& local_node = {});

}  // namespace loom
