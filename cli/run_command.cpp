// `loom run`: load, validate, run until drained; SIGINT/SIGTERM stop the sources and drain,
// a second one aborts. Stats go to standard output, as JSON on the last line with --stats json.
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstdio>

#include <fmt/format.h>

#include "actors/runtime.hpp"
#include "cli/commands.hpp"
#include "cli/load_or_report.hpp"

namespace loom::cli {
namespace {

std::atomic<int> stop_requests{0};

extern "C" void on_stop_signal(int) { stop_requests.fetch_add(1, std::memory_order_relaxed); }

void install_signal_handlers() {
  struct sigaction action {};
  action.sa_handler = on_stop_signal;
  sigemptyset(&action.sa_mask);
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);
}

void print_summary(const run_stats& stats) {
  std::printf("graph '%s' ran %.3f s\n", stats.graph.c_str(), stats.seconds);
  std::printf("  %-20s %-18s %12s %12s %10s %8s\n", "stage", "type", "in", "out", "dropped",
              "errors");
  for (const auto& [name, s] : stats.stages)
    std::printf("  %-20s %-18s %12llu %12llu %10llu %8llu\n", name.c_str(), s.type.c_str(),
                static_cast<unsigned long long>(s.packets_in),
                static_cast<unsigned long long>(s.packets_out),
                static_cast<unsigned long long>(s.dropped),
                static_cast<unsigned long long>(s.errors));
  for (const auto& [name, s] : stats.sinks)
    std::printf("  sink %s: %llu packets, %llu bytes, latency p50 %.1f us, p99 %.1f us\n",
                name.c_str(), static_cast<unsigned long long>(s.packets),
                static_cast<unsigned long long>(s.bytes), s.latency_p50_us, s.latency_p99_us);
}

}  // namespace

int run_command(const graph_args& args, bool stats_json, bool progress) {
  // Before anything else: an interrupt while the graph loads ends the run as soon as it starts,
  // with stats, rather than killing the process.
  install_signal_handlers();
  auto registry = stage_registry::with_builtins();
  auto graph = load_or_report(args, registry);
  if (!graph) return exit_invalid;

  run_options options;
  options.stop_requests = &stop_requests;
  if (progress || isatty(STDERR_FILENO))
    options.progress = [](double seconds, const std::vector<stage_progress>& stages) {
      std::string line = fmt::format("loom: {:.0f} s", seconds);
      for (const auto& s : stages)
        line += fmt::format("  {} {}/{}", s.stage, s.packets_in, s.packets_out);
      std::fprintf(stderr, "%s\n", line.c_str());
    };
  auto result = run_graph(*graph, options);

  for (const auto& why : result.failures) std::fprintf(stderr, "loom: error: %s\n", why.c_str());
  if (stats_json) {
    std::printf("%s\n", to_json(result.stats).c_str());
  } else {
    print_summary(result.stats);
  }
  std::fflush(stdout);
  if (!result.failures.empty() && result.status == run_result::outcome::failed)
    return exit_runtime_failure;
  if (result.status == run_result::outcome::interrupted) return exit_interrupted;
  return exit_ok;
}

}  // namespace loom::cli
