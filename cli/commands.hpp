// The subcommands of `loom`. Each returns the process exit status:
// 0 success, 1 runtime failure, 2 invalid graph or usage, 130 interrupted.
#pragma once

#include <string>
#include <vector>

#include "cli/security_options.hpp"

namespace CLI {
class App;
}

namespace loom::cli {

constexpr int exit_ok = 0;
constexpr int exit_runtime_failure = 1;
constexpr int exit_invalid = 2;
constexpr int exit_interrupted = 130;

struct graph_args {
  std::string path;
  std::vector<std::string> overrides;  // --set stage.param=value
};

// Graphs with [nodes]: the security of the cluster, and how long to wait for nodes to answer.
struct cluster_args {
  security_args security;
  double node_timeout_s = 10;
};
int run_command(const graph_args& graph, bool stats_json, bool progress,
                const cluster_args& cluster);
int check_command(const graph_args& graph);
int graph_command(const graph_args& graph);
int plan_command(const graph_args& graph, bool json);
int stages_command(const std::string& type, const std::vector<std::string>& plugins);
int devices_command(bool json);
int version_command();

struct keygen_args {
  std::string name;
  std::string out_dir = ".";
  bool force = false;
};
CLI::App* add_keygen_command(CLI::App& app, keygen_args& args);
int keygen_command(const keygen_args& args);

struct node_args {
  std::string listen;
  security_args security;
  bool once = false;
};
CLI::App* add_node_command(CLI::App& app, node_args& args);
int node_command(const node_args& args);

}  // namespace loom::cli
