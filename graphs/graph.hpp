// A validated graph: what a graph file says, checked against the stage registry, with every
// default filled in. Only `load_graph` (graphs/load.hpp) makes one, so holding a `graph_def`
// means the file was valid.
#pragma once

#include <cstddef>
#include <map>
#include <string>
#include <vector>

#include "stages/params.hpp"
#include "stages/stage.hpp"

namespace loom {

struct source_position {
  std::string file;
  int line = 0;
  int column = 0;
};

// What a channel does when it is full.
enum class full_policy { block, drop_oldest, drop_newest };
std::string_view name_of(full_policy policy);

enum class error_policy { skip, fail };

// Repeated failures: after `errors` failed packets in a row the stage is restarted (close, a
// fresh instance, open); more than `max` restarts within `within_s` seconds fails the run.
struct restart_policy {
  int errors = 5;
  int max = 3;
  double within_s = 60.0;
};

struct edge_def {
  std::string from_stage;
  std::string from_port;
  std::string to_stage;
  std::string to_port;
  std::size_t capacity = 64;
  full_policy policy = full_policy::block;
  source_position where;
};

struct device_def {
  std::string name;
  std::string kind;        // "cpu"
  std::vector<int> cores;  // empty: every usable core, unpinned
  source_position where;
};

struct stage_def {
  std::string name;
  std::string type;
  const stage_spec* spec = nullptr;  // owned by the registry the graph was loaded with
  std::string device = "cpu";
  int replicas = 1;
  param_values values;
  std::vector<edge_def> inputs;  // one per input port, in the order the spec declares them
  error_policy on_error = error_policy::skip;
  restart_policy restart;
  source_position where;
};

struct graph_def {
  std::string name;
  int version = 1;
  std::string file;
  std::string sha256;  // of the graph file's bytes (before --set overrides), lowercase hex
  std::vector<std::string> plugins;  // absolute paths, loaded into the registry
  std::map<std::string, device_def> devices;  // always holds "cpu"
  std::vector<stage_def> stages;              // sources first, every stage after its inputs

  const stage_def* find(std::string_view stage) const;
  const device_def& device_of(const stage_def& stage) const;
  // The edges that read `stage.port`, in stage order.
  std::vector<const edge_def*> consumers(std::string_view stage, std::string_view port) const;
};

}  // namespace loom
