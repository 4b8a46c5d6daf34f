#include "cli/load_or_report.hpp"

#include <cstdio>

#include "graphs/load.hpp"

namespace loom::cli {

std::optional<graph_def> load_or_report(const graph_args& args, stage_registry& registry) {
  auto result = load_graph(args.path, args.overrides, registry);
  for (const auto& d : result.errors) std::fprintf(stderr, "%s\n", format(d).c_str());
  if (!result.errors.empty())
    std::fprintf(stderr, "%zu error%s; nothing was run\n", result.errors.size(),
                 result.errors.size() == 1 ? "" : "s");
  return std::move(result.graph);
}

}  // namespace loom::cli
