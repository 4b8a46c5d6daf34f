// `loom node --listen ENDPOINT`: the worker daemon a coordinator deploys graph parts to
// (connectors/node_daemon.hpp). SIGINT/SIGTERM abort a running part and end the daemon.
#include <atomic>
#include <csignal>
#include <cstdio>
#include <exception>

#include <CLI/CLI.hpp>

#include "cli/commands.hpp"
#include "connectors/node_daemon.hpp"

namespace loom::cli {
namespace {

std::atomic<int> node_stop_requests{0};

extern "C" void on_node_signal(int) { node_stop_requests.fetch_add(1); }

}  // namespace

CLI::App* add_node_command(CLI::App& app, node_args& args) {
  auto* node = app.add_subcommand(
      "node", "Run a worker that coordinators deploy graph parts to (graphs with [nodes]).");
  node->add_option("--listen", args.listen,
                   "where coordinators reach this node: tcp://*:PORT, PORT as in the graph's "
                   "[nodes.NAME] address (the ports after it carry data)")
      ->required();
  add_security_options(*node, args.security);
  node->add_flag("--once", args.once, "serve one deployment, then exit with its status");
  node->footer(
      "A graph spreads over machines with [nodes] tables and `node =` on stages:\n"
      "\n"
      "  [nodes.gpu1]\n"
      "  address = \"tcp://10.0.0.2:7000\"\n"
      "\n"
      "  [stages.decoder]\n"
      "  type = \"diffusion_decoder\"\n"
      "  node = \"gpu1\"\n"
      "\n"
      "On 10.0.0.2:   loom keygen gpu1 && loom node --listen tcp://*:7000 --key gpu1.key --allow keys/\n"
      "Coordinator:   loom keygen coordinator && loom run graph.toml --key coordinator.key --allow keys/\n"
      "Each --allow folder holds the .pub files of the others (the coordinator's, every node's,\n"
      "each named after its node). On a trusted network, --insecure on all of them instead.\n"
      "Every node needs the files the graph names (weights, inputs) at the same paths.");
  return node;
}

int node_command(const node_args& args) {
  struct sigaction action {};
  action.sa_handler = on_node_signal;
  sigemptyset(&action.sa_mask);
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);
  try {
    auto secured = security_from(args.security);
    if (!secured) {
      std::fprintf(stderr,
                   "loom node: error: give this node CURVE keys (--key NAME.key --allow DIR, see "
                   "`loom keygen --help`) or run it --insecure on a trusted network\n");
      return exit_invalid;
    }
    node_options options;
    options.listen = args.listen;
    options.secured = *secured;
    options.stop_requests = &node_stop_requests;
    options.once = args.once;
    return serve_node(options) == 0 ? exit_ok : exit_runtime_failure;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "loom node: error: %s\n", e.what());
    return exit_invalid;
  }
}

}  // namespace loom::cli
