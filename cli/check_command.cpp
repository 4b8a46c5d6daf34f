// `loom check` and `loom graph`: validate a graph file; print it as Graphviz DOT.
#include <cstdio>

#include "cli/commands.hpp"
#include "cli/load_or_report.hpp"
#include "graphs/dot.hpp"

namespace loom::cli {

int check_command(const graph_args& args) {
  auto registry = stage_registry::with_builtins();
  auto graph = load_or_report(args, registry);
  if (!graph) return exit_invalid;
  std::size_t edges = 0;
  for (const auto& s : graph->stages) edges += s.inputs.size();
  std::printf("%s: ok, graph '%s': %zu stages, %zu edges\n", args.path.c_str(),
              graph->name.c_str(), graph->stages.size(), edges);
  return exit_ok;
}

int graph_command(const graph_args& args) {
  auto registry = stage_registry::with_builtins();
  auto graph = load_or_report(args, registry);
  if (!graph) return exit_invalid;
  std::fputs(to_dot(*graph).c_str(), stdout);
  return exit_ok;
}

}  // namespace loom::cli
