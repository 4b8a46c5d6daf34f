// `loom plan`: where each stage of a graph would run and why, the transfers between devices,
// memory per device and the expected bottleneck, without opening a device or running anything.
#include <cstdio>

#include "cli/commands.hpp"
#include "cli/load_or_report.hpp"
#include "graphs/plan.hpp"

namespace loom::cli {

int plan_command(const graph_args& args, bool json) {
  auto registry = stage_registry::with_builtins();
  auto graph = load_or_report(args, registry);
  if (!graph) return exit_invalid;
  auto plan = plan_graph(*graph);
  std::fputs(json ? (to_json(plan) + "\n").c_str() : to_text(plan).c_str(), stdout);
  return exit_ok;
}

}  // namespace loom::cli
