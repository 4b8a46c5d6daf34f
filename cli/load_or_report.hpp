// Loads a graph for a subcommand, printing every error to standard error.
#pragma once

#include <optional>

#include "cli/commands.hpp"
#include "graphs/graph.hpp"
#include "stages/registry.hpp"

namespace loom::cli {

std::optional<graph_def> load_or_report(const graph_args& args, stage_registry& registry);

}  // namespace loom::cli
