// Runs a validated graph on CAF actors: one actor per stage replica, bounded credit-based
// channels between them, until every sink has drained, a stop is requested, or a stage fails.
#pragma once

#include <atomic>
#include <functional>
#include <string>
#include <vector>

#include "actors/stats.hpp"
#include "graphs/graph.hpp"

namespace loom {

struct stage_progress {
  std::string stage;
  std::uint64_t packets_in = 0;
  std::uint64_t packets_out = 0;
};

struct run_options {
  // Counts stop requests (SIGINT/SIGTERM): 1 stops the sources and drains, 2 aborts.
  const std::atomic<int>* stop_requests = nullptr;
  // Where runtime messages go (stage errors, restarts); called from several threads, one line
  // at a time. Default: standard error.
  std::function<void(const std::string&)> log;
  // Called about once a second with the packets each stage has handled so far.
  std::function<void(double seconds, const std::vector<stage_progress>&)> progress;
  // Called once every stage has opened, before any source starts; false ends the run there.
  // A deployment holds every node here until all are ready (connectors/deployment.hpp).
  std::function<bool()> before_start;
};

struct run_result {
  enum class outcome { completed, interrupted, failed };
  outcome status = outcome::completed;
  std::vector<std::string> failures;  // why the run failed, one line each
  run_stats stats;
};

run_result run_graph(const graph_def& graph, const run_options& options = {});

}  // namespace loom
