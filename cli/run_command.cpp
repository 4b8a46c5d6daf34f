// `loom run`: load, validate, run until drained; SIGINT/SIGTERM stop the sources and drain,
// a second one aborts. Stats go to standard output, as JSON on the last line with --stats json.
// A graph with [nodes] is deployed over its nodes (connectors/deployment.hpp) instead.
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <fmt/format.h>

#include "actors/runtime.hpp"
#include "cli/commands.hpp"
#include "cli/load_or_report.hpp"
#include "connectors/deployment.hpp"
#include "connectors/network.hpp"
#include "graphs/sha256.hpp"

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

// The graph across its nodes: the text that was validated goes to every node.
run_result deploy(const graph_def& graph, const stage_registry& registry, const graph_args& args,
                  const security& secured, const cluster_args& cluster, const run_options& run) {
  std::ifstream file(args.path, std::ios::binary);
  std::stringstream text;
  text << file.rdbuf();
  deployment_options options;
  options.graph_text = text.str();
  if (sha256_hex(options.graph_text) != graph.sha256)
    throw std::runtime_error(fmt::format("{} changed while it was being read; run again",
                                         args.path));
  options.graph_path = std::filesystem::absolute(args.path).string();
  options.overrides = args.overrides;
  options.secured = secured;
  if (!secured.is_insecure()) {
    if (cluster.security.allow_dir.empty())
      throw std::runtime_error(
          "a coordinator needs --allow DIR: the folder with each node's NAME.pub");
    options.public_keys = node_public_keys(graph, cluster.security.allow_dir);
  }
  options.run = run;
  options.connect_timeout = std::chrono::milliseconds(static_cast<long>(cluster.node_timeout_s * 1000));
  return run_deployment(graph, registry, options);
}

}  // namespace

int run_command(const graph_args& args, bool stats_json, bool progress,
                const cluster_args& cluster) {
  // Before anything else: an interrupt while the graph loads ends the run as soon as it starts,
  // with stats, rather than killing the process.
  install_signal_handlers();
  std::optional<security> secured;
  try {
    secured = security_from(cluster.security);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "loom: error: %s\n", e.what());
    return exit_invalid;
  }
  auto registry = stage_registry::with_builtins();
  auto graph = load_or_report(args, registry);
  if (!graph) return exit_invalid;
  if (!graph->nodes.empty() && !secured) {
    std::fprintf(stderr,
                 "loom: error: graph '%s' spreads over %zu nodes: give this coordinator CURVE keys "
                 "(--key NAME.key --allow DIR, see `loom keygen --help`), or --insecure on a "
                 "trusted network\n",
                 graph->name.c_str(), graph->nodes.size());
    return exit_invalid;
  }

  run_options options;
  options.stop_requests = &stop_requests;
  // An insecure run says so on every line (connectors/secure_socket.hpp).
  options.log = [](const std::string& line) {
    std::fprintf(stderr, "%sloom: %s\n", std::string(security_banner()).c_str(), line.c_str());
  };
  if (progress || isatty(STDERR_FILENO))
    options.progress = [](double seconds, const std::vector<stage_progress>& stages) {
      std::string line = fmt::format("loom: {:.0f} s", seconds);
      for (const auto& s : stages)
        line += fmt::format("  {} {}/{}", s.stage, s.packets_in, s.packets_out);
      std::fprintf(stderr, "%s\n", line.c_str());
    };
  run_result result;
  if (!graph->nodes.empty()) {
    try {
      result = deploy(*graph, registry, args, *secured, cluster, options);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "loom: error: %s\n", e.what());
      return exit_invalid;
    }
  } else {
    // A graph run on its own is a deployment of one process: its zmq stages name no graph hash
    // in their hellos, so that they meet other graphs and external clients (the hash guards the
    // parts of one deployment against each other's stale runs, which a lone graph has not).
    if (secured) configure_network({*secured, "", ""});
    result = run_graph(*graph, options);
  }

  for (const auto& why : result.failures)
    std::fprintf(stderr, "%sloom: error: %s\n", std::string(security_banner()).c_str(), why.c_str());
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
