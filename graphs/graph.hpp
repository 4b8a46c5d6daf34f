// A validated graph: what a graph file says, checked against the stage registry, with every
// default filled in. Only `load_graph` (graphs/load.hpp) makes one, so holding a `graph_def`
// means the file was valid.
#pragma once

#include <cstddef>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "devices/device.hpp"
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

// Where a stage runs: as the graph says (its `device`, else the graph-wide placement), on the
// device the file names, or on the device the planner chooses.
enum class placement_mode { graph_default, fixed, automatic };

// Repeated failures: after `errors` failed packets in a row the stage is restarted (close, a
// fresh instance, open); more than `max` restarts within `within_s` seconds fails the run.
struct restart_policy {
  int errors = 5;
  int max = 3;
  double within_s = 60.0;
};

// `batch = { max, timeout_ms }` on a stage whose type takes batches: up to `max` input sets per
// call; a partial batch is called `timeout_ms` after its first set arrived, at once when its
// inputs have ended or a stop was requested.
struct batch_policy {
  std::size_t max = 1;
  double timeout_ms = 0;
};

struct edge_def {
  std::string from_stage;
  std::string from_port;
  std::string to_stage;
  std::string to_port;
  std::size_t capacity = 64;
  full_policy policy = full_policy::block;
  // The two stages' devices have different memory spaces: the runtime moves every tensor across
  // (devices/transfer.hpp) and counts the bytes.
  bool transfer = false;
  source_position where;
};

// How stats, logs and messages name an edge: "producer.port -> consumer.port".
std::string edge_label(const edge_def& e);

struct device_def {
  std::string name;
  std::string kind;        // a registered device kind: "cpu", "cuda", "emu", ...
  std::vector<int> cores;  // CPUs for its stages' threads; empty: every usable core, unpinned
  param_values values;     // the keys its kind declares, defaults filled in
  std::optional<double> cost_per_hour;  // what an hour of it costs, in the user's currency
  std::optional<double> watts;          // its power draw while busy
  device_caps caps;        // what its kind says a device so declared can do
  source_position where;
};

// A machine (or process) of a deployment, where `loom node --listen` runs: `[nodes.NAME]` with
// `address = "tcp://HOST:PORT"`. The node takes control messages at PORT and data for the edges
// that enter it at PORT+1, PORT+2, ... (connectors/deployment.hpp).
struct node_def {
  std::string name;
  std::string address;  // as written: "tcp://HOST:PORT"
  std::string host;
  int port = 0;
  source_position where;
};

struct stage_def {
  std::string name;
  std::string type;
  const stage_spec* spec = nullptr;  // owned by the registry the graph was loaded with
  std::string device = "cpu";
  source_position device_where;   // of its `device` key; line 0 when it has none
  std::string node;               // its `node`; "": the process that runs `loom run`
  source_position node_where;
  placement_mode placement = placement_mode::graph_default;
  bool auto_placed = false;       // `device` was chosen by the planner
  std::string placement_reason;   // why, when auto placed
  std::vector<port_type> input_types;   // per input port, as far as known before the run
  std::vector<port_type> output_types;  // per output port
  stage_cost cost;                // per call, from its type's estimate
  int replicas = 1;
  param_values values;
  std::vector<edge_def> inputs;  // one per input port, in the order the spec declares them
  error_policy on_error = error_policy::skip;
  restart_policy restart;
  std::optional<batch_policy> batch;  // none: one input set per call
  source_position where;
};

struct graph_def {
  std::string name;
  int version = 1;
  std::string file;
  std::string sha256;  // of the graph file's bytes (before --set overrides), lowercase hex
  std::vector<std::string> plugins;  // absolute paths, loaded into the registry
  std::map<std::string, device_def> devices;  // always holds "cpu"
  std::map<std::string, node_def> nodes;      // [nodes]; empty: everything runs in one process
  bool auto_placement = false;  // [graph] placement = "auto": stages without `device` are placed
  std::vector<stage_def> stages;              // sources first, every stage after its inputs
  // The specs of stages made by expanding others (a moe's router, shards and combiner), which
  // no registry holds; their stage_defs point here.
  std::vector<std::shared_ptr<const stage_spec>> expanded_specs;

  const stage_def* find(std::string_view stage) const;
  const device_def& device_of(const stage_def& stage) const;
  // The edges that read `stage.port`, in stage order.
  std::vector<const edge_def*> consumers(std::string_view stage, std::string_view port) const;
};

}  // namespace loom
