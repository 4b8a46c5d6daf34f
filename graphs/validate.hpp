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

// Adds every error found to `errors`; the graph is returned when there was none.
std::optional<graph_def> validate_graph(const toml_node& root, const std::string& file,
                                        stage_registry& registry,
                                        std::vector<diagnostic>& errors);

}  // namespace loom
