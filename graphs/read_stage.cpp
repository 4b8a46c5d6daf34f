// Reads one stage table. Its stage keys are checked here; every other key is a parameter of its
// type (check_params). What an input refers to is resolved later, by link_stages, when every
// stage is known.
#include "graphs/read_stage.hpp"

#include <algorithm>
#include <limits>

#include <fmt/format.h>

#include "graphs/check_params.hpp"
#include "graphs/expand_moe.hpp"
#include "graphs/read_values.hpp"
#include "graphs/suggest.hpp"

namespace loom {

const std::vector<std::string> full_policy_names{"block", "drop_oldest", "drop_newest"};

full_policy full_policy_named(std::string_view name) {
  if (name == "drop_oldest") return full_policy::drop_oldest;
  if (name == "drop_newest") return full_policy::drop_newest;
  return full_policy::block;
}

namespace {

const std::vector<std::string> stage_keys{"type",     "device",  "node",  "placement", "replicas",
                                          "inputs",   "on_error", "restart", "batch"};
const std::vector<std::string> placement_names{"auto", "fixed"};
const std::vector<std::string> edge_keys{"from", "capacity", "policy"};
const std::vector<std::string> restart_keys{"errors", "max", "within_s"};
const std::vector<std::string> batch_keys{"max", "timeout_ms"};
const std::vector<std::string> error_policy_names{"skip", "fail"};
constexpr std::int64_t int_max = std::numeric_limits<int>::max();
// Beyond these a typo would hold packets without bound, or for ever.
constexpr std::int64_t max_batch = 1 << 16;      // input sets per call
constexpr double max_batch_timeout_ms = 60'000;  // a minute

class stage_reader {
 public:
  stage_reader(const toml_entry& entry, const stage_reading& context,
               std::vector<diagnostic>& errors)
      : table_(entry.value), context_(context), errors_(errors) {
    draft_.def.name = entry.key;
    draft_.def.where = table_.where.source();
  }

  stage_draft read() {
    read_type();
    read_device();
    read_node();
    read_placement();
    read_replicas();
    read_on_error();
    read_restart();
    read_batch();
    read_inputs();
    if (const auto* spec = draft_.def.spec) {
      auto own_keys = stage_keys;
      for (const auto& key : expansion_keys(spec->type)) own_keys.push_back(key);
      auto params = check_params(
          table_, {fmt::format("stage '{}'", name()), spec->type, spec->params}, own_keys, errors_);
      draft_.def.values = std::move(params.values);
      draft_.params_complete = params.complete;
    }
    return std::move(draft_);
  }

 private:
  const std::string& name() const { return draft_.def.name; }

  std::string what(std::string_view key) const {
    return fmt::format("'{}' of stage '{}'", key, name());
  }

  void read_type() {
    const auto* node = table_.get("type");
    if (node == nullptr) {
      add_error(errors_, table_.where,
                fmt::format("stage '{}' is missing 'type' (`loom stages` lists the types)", name()));
      return;
    }
    auto type = read_string(*node, what("type"), errors_);
    if (!type) return;
    draft_.def.type = *type;
    draft_.def.spec = context_.registry.find(*type);
    if (draft_.def.spec != nullptr) return;
    std::vector<std::string> known;
    for (const auto* spec : context_.registry.all()) known.push_back(spec->type);
    add_error(errors_, node->where,
              unknown_name_message(fmt::format("unknown stage type '{}'", *type), *type, known,
                                   "known types"));
  }

  void read_device() {
    const auto* node = table_.get("device");
    if (node == nullptr) return;
    auto device = read_string(*node, what("device"), errors_);
    if (!device) return;
    if (context_.devices.count(*device) == 0) {
      std::vector<std::string> known(context_.devices.begin(), context_.devices.end());
      add_error(errors_, node->where,
                unknown_name_message(
                    fmt::format("stage '{}' is placed on unknown device '{}'", name(), *device),
                    *device, known, "devices"));
      return;
    }
    draft_.def.device = *device;
    draft_.def.device_where = node->where.source();
  }

  void read_node() {
    const auto* node = table_.get("node");
    if (node == nullptr) return;
    auto value = read_string(*node, what("node"), errors_);
    if (!value) return;
    if (context_.nodes.count(*value) == 0) {
      std::vector<std::string> known(context_.nodes.begin(), context_.nodes.end());
      add_error(errors_, node->where,
                context_.nodes.empty()
                    ? fmt::format("stage '{}' runs on node '{}', but the graph declares no nodes; "
                                  "add [nodes.{}] with address = \"tcp://HOST:PORT\"",
                                  name(), *value, *value)
                    : unknown_name_message(
                          fmt::format("stage '{}' runs on unknown node '{}'", name(), *value),
                          *value, known, "nodes"));
      return;
    }
    draft_.def.node = *value;
    draft_.def.node_where = node->where.source();
  }

  // "auto": the planner picks the device (graphs/place_stages); "fixed": `device`, or cpu.
  void read_placement() {
    const auto* node = table_.get("placement");
    if (node == nullptr) return;
    auto placement = read_choice(*node, what("placement"), placement_names, errors_);
    if (!placement) return;
    draft_.def.placement = *placement == "auto" ? placement_mode::automatic : placement_mode::fixed;
    if (draft_.def.placement == placement_mode::automatic && table_.get("device") != nullptr)
      add_error(errors_, node->where,
                fmt::format("stage '{}' sets both 'device' and placement = \"auto\"; keep "
                            "'device' to pin it, or remove it to let the planner choose",
                            name()));
  }

  void read_replicas() {
    const auto* node = table_.get("replicas");
    if (node == nullptr) return;
    auto replicas = read_integer(*node, what("replicas"), 1, max_replicas, errors_);
    if (!replicas) return;
    const auto* spec = draft_.def.spec;
    if (*replicas > 1 && spec != nullptr && spec->is_source()) {
      add_error(errors_, node->where,
                fmt::format("stage '{}' is a source ({} has no inputs) and must have replicas = 1, "
                            "not {}",
                            name(), spec->type, *replicas));
      return;
    }
    draft_.def.replicas = static_cast<int>(*replicas);
  }

  void read_on_error() {
    const auto* node = table_.get("on_error");
    if (node == nullptr) return;
    if (auto policy = read_choice(*node, what("on_error"), error_policy_names, errors_))
      draft_.def.on_error = *policy == "fail" ? error_policy::fail : error_policy::skip;
  }

  void read_restart() {
    const auto* node = table_.get("restart");
    if (node == nullptr || !expect_kind(*node, toml_kind::table, what("restart"), errors_)) return;
    auto context = fmt::format("restart of stage '{}'", name());
    check_keys(*node, restart_keys, context, errors_);
    auto& restart = draft_.def.restart;
    auto key = [&](std::string_view k) { return fmt::format("'{}' in {}", k, context); };
    if (const auto* errors = node->get("errors"))
      if (auto v = read_integer(*errors, key("errors"), 1, int_max, errors_))
        restart.errors = static_cast<int>(*v);
    if (const auto* max = node->get("max"))
      if (auto v = read_integer(*max, key("max"), 0, int_max, errors_))
        restart.max = static_cast<int>(*v);
    if (const auto* within = node->get("within_s"))
      if (auto v = read_positive_number(*within, key("within_s"), errors_)) restart.within_s = *v;
  }

  // Only a type that takes batches may have one, and a source never does: it has no inputs to
  // collect. The edge capacity needs no check against `max`, since the runtime takes sets off
  // their edges (returning their credit) while the batch fills.
  void read_batch() {
    const auto* entry = table_.find("batch");
    if (entry == nullptr) return;
    const auto* spec = draft_.def.spec;
    if (spec != nullptr && spec->is_source()) {
      add_error(errors_, entry->where,
                fmt::format("stage '{}' is a source ({} has no inputs) and cannot take `batch`; "
                            "remove it",
                            name(), spec->type));
      return;
    }
    if (spec != nullptr && !spec->batches) {
      add_error(errors_, entry->where,
                fmt::format("stage '{}' ({}) does not take batches; remove `batch`", name(),
                            spec->type));
      return;
    }
    const auto& node = entry->value;
    if (!expect_kind(node, toml_kind::table, what("batch"), errors_)) return;
    auto context = fmt::format("batch of stage '{}'", name());
    check_keys(node, batch_keys, context, errors_);
    auto key = [&](std::string_view k) { return fmt::format("'{}' in {}", k, context); };
    batch_policy batch;
    bool valid = true;
    if (const auto* max = node.get("max")) {
      auto v = read_integer(*max, key("max"), 1, max_batch, errors_);
      valid = valid && v;
      if (v) batch.max = static_cast<std::size_t>(*v);
    } else {
      add_error(errors_, node.where,
                fmt::format("{} is missing 'max', the most input sets per call (batch = {{ max = "
                            "8, timeout_ms = 5 }})",
                            context));
      valid = false;
    }
    if (const auto* timeout = node.get("timeout_ms")) {
      auto v = read_number(*timeout, key("timeout_ms"), errors_);
      if (v && (*v < 0 || *v > max_batch_timeout_ms)) {
        add_error(errors_, timeout->where,
                  fmt::format("{} must be from 0 to {}, not {}", key("timeout_ms"),
                              max_batch_timeout_ms, *v));
        v.reset();
      }
      valid = valid && v;
      if (v) batch.timeout_ms = *v;
    }
    if (valid) draft_.def.batch = batch;
  }

  void read_inputs() {
    const auto* spec = draft_.def.spec;
    const auto* node = table_.get("inputs");
    std::vector<std::string> ports;
    if (spec != nullptr)
      for (const auto& p : spec->inputs) ports.push_back(p.name);

    std::vector<std::string> connected;
    if (node != nullptr && expect_kind(*node, toml_kind::table, what("inputs"), errors_)) {
      for (const auto& entry : node->entries) {
        if (spec != nullptr && !spec->input_index(entry.key)) {
          add_error(errors_, entry.where, no_input_message(*spec, entry.key, ports));
          continue;
        }
        connected.push_back(entry.key);
        if (auto edge = read_input(entry)) draft_.inputs.push_back(std::move(*edge));
      }
    } else if (node != nullptr) {
      return;  // not a table: reported, and a list of unconnected ports would only add noise
    }
    if (spec == nullptr) return;
    std::vector<std::string> missing;
    for (const auto& port : ports)
      if (std::find(connected.begin(), connected.end(), port) == connected.end())
        missing.push_back(port);
    if (!missing.empty())
      add_error(errors_, table_.where,
                fmt::format("stage '{}' ({}) has unconnected inputs: {}; connect each with "
                            "inputs.PORT = \"stage.port\"",
                            name(), spec->type, name_list(missing)));
  }

  std::string no_input_message(const stage_spec& spec, const std::string& port,
                               const std::vector<std::string>& ports) const {
    if (ports.empty())
      return fmt::format("stage '{}' ({}) is a source and takes no inputs; remove inputs.{}",
                         name(), spec.type, port);
    return listed_name_message(
        fmt::format("stage '{}' ({}) has no input port '{}'", name(), spec.type, port), port,
        ports, "its inputs");
  }

  // "stage.port", or a table { from, capacity, policy }. The edge is kept even when only its
  // options are wrong, so that what it reads from is still checked.
  std::optional<edge_def> read_input(const toml_entry& entry) {
    edge_def edge;
    edge.to_stage = name();
    edge.to_port = entry.key;
    edge.capacity = context_.defaults.capacity;
    edge.policy = context_.defaults.policy;
    edge.where = entry.value.where.source();
    auto input = fmt::format("input '{}' of stage '{}'", entry.key, name());
    const toml_node* from = &entry.value;
    if (entry.value.is_table()) {
      check_keys(entry.value, edge_keys, input, errors_);
      auto key = [&](std::string_view k) { return fmt::format("'{}' of {}", k, input); };
      if (const auto* capacity = entry.value.get("capacity"))
        if (auto v = read_integer(*capacity, key("capacity"), 1, max_edge_capacity, errors_))
          edge.capacity = static_cast<std::size_t>(*v);
      if (const auto* policy = entry.value.get("policy"))
        if (auto v = read_choice(*policy, key("policy"), full_policy_names, errors_))
          edge.policy = full_policy_named(*v);
      from = entry.value.get("from");
      if (from == nullptr) {
        add_error(errors_, entry.value.where,
                  fmt::format("{} is missing 'from' (from = \"stage.port\")", input));
        return std::nullopt;
      }
    } else if (entry.value.kind != toml_kind::string) {
      add_error(errors_, entry.value.where,
                fmt::format("{} must be \"stage.port\" or a table {{ from = \"stage.port\", "
                            "capacity = 64, policy = \"block\" }}, not {}",
                            input, kind_phrase(entry.value.kind)));
      return std::nullopt;
    }
    auto reference = read_string(*from, entry.value.is_table() ? fmt::format("'from' of {}", input)
                                                               : input,
                                 errors_);
    if (!reference) return std::nullopt;
    auto dot = reference->find('.');
    if (dot == std::string::npos || dot == 0 || dot + 1 == reference->size()) {
      add_error(errors_, from->where,
                fmt::format("{} is '{}'; name a stage and one of its outputs as \"stage.port\", "
                            "like \"src.out\"",
                            input, *reference));
      return edge;
    }
    edge.from_stage = reference->substr(0, dot);
    edge.from_port = reference->substr(dot + 1);
    return edge;
  }

  const toml_node& table_;
  const stage_reading& context_;
  std::vector<diagnostic>& errors_;
  stage_draft draft_;
};

}  // namespace

std::optional<stage_draft> read_stage(const toml_entry& entry, const stage_reading& context,
                                      std::vector<diagnostic>& errors) {
  if (entry.key.empty() || entry.key.find('.') != std::string::npos) {
    add_error(errors, entry.where,
              fmt::format("stage name '{}' must be non-empty and without '.': inputs name their "
                          "source as \"stage.port\"",
                          entry.key));
    return std::nullopt;
  }
  if (!expect_kind(entry.value, toml_kind::table, fmt::format("stage '{}'", entry.key), errors))
    return std::nullopt;
  return stage_reader(entry, context, errors).read();
}

}  // namespace loom
