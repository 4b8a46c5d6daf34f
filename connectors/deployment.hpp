// The coordinator: `loom run` on a graph with [nodes]. It splits the graph by node
// (graph_parts.hpp), says hello to every node's `loom node --listen` (same loom release, same
// graph hash, or they refuse each other), deploys each its part, waits until every part has
// opened, starts them together, gathers their stats into the one `--stats json` summary, and
// stops every part at the end or on the first failure. Stages without `node` run here, in this
// process, as a part of their own.
//
// Failure bound: nodes and coordinator exchange heartbeats every 0.5 s; a node not heard from for
// `silence` (3 s by default) is reported dead — which node, which of its stages, and how many
// packets were sent to it that it never accounted for (counted as `lost` on their edges) — and
// the run ends with a failure; every other part is aborted. A node that does not answer its
// hello within `connect_timeout` ends the run before anything starts.
#pragma once

#include <chrono>
#include <map>
#include <string>
#include <vector>

#include "actors/runtime.hpp"
#include "connectors/secure_socket.hpp"
#include "stages/registry.hpp"

namespace loom {

struct deployment_options {
  security secured;
  // The nodes' CURVE public keys by node name (allow-list folder's NAME.pub); empty if insecure.
  std::map<std::string, std::string> public_keys;
  std::string graph_text;   // the graph file's bytes, as read
  std::string graph_path;   // absolute: the nodes resolve relative paths against it too
  std::vector<std::string> overrides;
  run_options run;          // stop requests, log, progress: as for a run in one process
  std::chrono::milliseconds silence{3000};
  std::chrono::milliseconds connect_timeout{10000};
};

// Runs `graph` (loaded from options.graph_text with `registry`) across its nodes.
run_result run_deployment(const graph_def& graph, const stage_registry& registry,
                          const deployment_options& options);

// The public keys of the graph's nodes from an allow-list folder holding NAME.pub per node.
// Throws, naming the missing file, for a node without one.
std::map<std::string, std::string> node_public_keys(const graph_def& graph,
                                                    const std::string& allow_dir);

}  // namespace loom
