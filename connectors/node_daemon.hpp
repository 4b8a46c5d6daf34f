// `loom node --listen ENDPOINT`: a worker that waits for a coordinator (`loom run` on a graph with
// [nodes]) to deploy a graph, runs its part of it (connectors/graph_parts.hpp) when told to
// start, reports the part's stats, and waits for the next deployment.
//
// One deployment at a time. The node refuses a coordinator of another loom release, a graph whose
// text does not match the hash the coordinator announced, and a second coordinator while busy —
// each with an error message the coordinator prints. A coordinator that falls silent for longer
// than `silence` is taken for dead: the node aborts the part and waits for the next one, so a
// lost coordinator never leaves a node running (or holding its devices) for ever.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <string>

#include "connectors/secure_socket.hpp"

namespace loom {

struct node_options {
  std::string listen;  // "tcp://*:7000": the port in the graph's [nodes.NAME] address
  security secured;    // CURVE keys and allow-list, or security::insecure()
  // The daemon's own SIGINT/SIGTERM: the first aborts a running part and ends the daemon.
  const std::atomic<int>* stop_requests = nullptr;
  bool once = false;   // serve one deployment, then return (scripts and tests)
  std::chrono::milliseconds silence{3000};
  // Where the daemon's lines go (each starts with security_banner()); default: standard error.
  std::function<void(const std::string&)> log;
};

// Serves until stopped (or, with `once`, until one deployment has ended). Returns 0 when every
// deployment it ran completed, 1 when the last one failed; throws when it cannot listen.
int serve_node(const node_options& options);

}  // namespace loom
