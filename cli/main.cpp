// loom — run multimodal model pipelines described in TOML graph files.
#include <cstdio>

#include <CLI/CLI.hpp>

#include "cli/commands.hpp"
#include "stages/plugin_abi.h"

namespace loom::cli {

int version_command() {
  std::printf("loom %s (graph format 1, plugin ABI %u)\n", LOOM_VERSION, LOOM_PLUGIN_ABI_VERSION);
  return exit_ok;
}

namespace {

void add_graph_args(CLI::App& command, graph_args& args) {
  command.add_option("GRAPH", args.path, "graph file (TOML)")->required();
  command.add_option("--set", args.overrides,
                     "override a stage setting before validation, e.g. --set src.count=10 "
                     "(repeatable; the value is read as TOML, a bare word as a string)");
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "loom runs dataflow pipelines of multimodal model stages described in a TOML graph file.\n"
      "\n"
      "  loom run examples/chain/chain.toml --stats json\n"
      "  loom check my_graph.toml\n"
      "  loom plan my_graph.toml\n"
      "  loom stages passthrough\n"
      "  loom devices\n"
      "  loom node --listen tcp://*:7000 --key gpu1.key --allow keys/   (graphs with [nodes])\n"
      "\n"
      "Exit status: 0 success, 1 runtime failure, 2 invalid graph or usage, 130 interrupted.",
      "loom"};
  app.require_subcommand(1);

  graph_args args;
  std::string stats_format;
  bool progress = false;
  auto* run = app.add_subcommand(
      "run", "Run a graph until every source has ended and every sink has drained. "
             "Ctrl-C stops the sources and drains; a second Ctrl-C aborts.");
  add_graph_args(*run, args);
  run->add_option("--stats", stats_format,
                  "print the run's statistics as one JSON object on the last line of output")
      ->check(CLI::IsMember({"json"}));
  run->add_flag("--progress", progress,
                "print progress to standard error every second (default when it is a terminal)");
  cluster_args run_cluster;
  add_security_options(*run, run_cluster.security);
  run->add_option("--node-timeout", run_cluster.node_timeout_s,
                  "graphs with [nodes]: seconds to wait for every node to answer before giving up")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();

  auto* check = app.add_subcommand(
      "check", "Validate a graph file and report every error as FILE:LINE:COL; runs nothing.");
  add_graph_args(*check, args);

  auto* graph = app.add_subcommand("graph", "Print a graph file as Graphviz DOT (loom graph g.toml | dot -Tsvg > g.svg).");
  add_graph_args(*graph, args);

  bool plan_json = false;
  auto* plan = app.add_subcommand(
      "plan",
      "Show where each stage would run and why (placement = \"auto\" uses the cost model), the "
      "transfers between devices, memory per device and the expected bottleneck. Runs nothing.\n"
      "\n  loom plan examples/devices/offload.toml\n  loom plan g.toml --json");
  add_graph_args(*plan, args);
  plan->add_flag("--json", plan_json, "print the plan as one JSON object");

  std::string type;
  std::vector<std::string> plugins;
  auto* stages = app.add_subcommand("stages", "List stage types, or describe one: ports, parameters, an example.");
  stages->add_option("TYPE", type, "the stage type to describe");
  stages->add_option("--plugin", plugins, "also load this plugin library (repeatable)");

  bool devices_json = false;
  auto* devices = app.add_subcommand(
      "devices", "List the device kinds loom knows, the keys each takes, and this machine's devices.");
  devices->add_flag("--json", devices_json, "print everything as one JSON object");
  devices->footer(
      "A graph declares a device as a table under [devices] and places stages on it:\n"
      "\n"
      "  [devices.fast]\n"
      "  kind = \"cpu\"        # a kind listed by `loom devices`\n"
      "  cores = [2, 3]      # CPUs its stages' threads are pinned to\n"
      "  gflops = 120        # a key of its kind (optional here)\n"
      "\n"
      "  [stages.hop]\n"
      "  type = \"passthrough\"\n"
      "  device = \"fast\"\n"
      "\n"
      "Device plugins load from beside libloom and from LOOM_DEVICE_PLUGIN_PATH (colon-separated\n"
      "files or directories of libloom_device_*.so).");

  keygen_args keygen_settings;
  auto* keygen = add_keygen_command(app, keygen_settings);

  node_args node_settings;
  auto* node = add_node_command(app, node_settings);

  auto* version = app.add_subcommand("version", "Print the version, graph format and plugin ABI.");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? exit_ok : exit_invalid;
  }
  if (*run) return run_command(args, !stats_format.empty(), progress, run_cluster);
  if (*check) return check_command(args);
  if (*graph) return graph_command(args);
  if (*plan) return plan_command(args, plan_json);
  if (*stages) return stages_command(type, plugins);
  if (*devices) return devices_command(devices_json);
  if (*keygen) return keygen_command(keygen_settings);
  if (*node) return node_command(node_settings);
  if (*version) return version_command();
  return exit_invalid;
}

}  // namespace loom::cli

int main(int argc, char** argv) { return loom::cli::main(argc, argv); }
