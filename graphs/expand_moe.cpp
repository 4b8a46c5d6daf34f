#include "graphs/expand_moe.hpp"

#include <fmt/format.h>

#include "graphs/read_values.hpp"
#include "graphs/suggest.hpp"
#include "stages/model/moe/expert_set.hpp"
#include "stages/model/moe/moe_stages.hpp"

namespace loom {
namespace {

const std::vector<std::string> moe_keys{"shards"};
const std::vector<std::string> no_keys;
const std::vector<std::string> shard_keys{"device", "experts", "node"};

struct shard_layout {
  std::string device;
  source_position device_where;
  std::string node;  // the moe stage's unless the shard names one
  source_position node_where;
  std::vector<std::int64_t> experts;
  source_position where;
};

class moe_expander {
 public:
  moe_expander(const stage_draft& moe, const toml_node& table, const stage_reading& context,
               std::vector<diagnostic>& errors)
      : moe_(moe), table_(table), context_(context), errors_(errors),
        experts_(moe.def.values.integer("experts")) {}

  // The shards as the table declares them; none after an error (reported).
  std::optional<std::vector<shard_layout>> read_layout() {
    const auto* shards = table_.get("shards");
    if (shards == nullptr) {
      std::vector<std::int64_t> all(static_cast<std::size_t>(experts_));
      for (std::int64_t e = 0; e < experts_; ++e) all[static_cast<std::size_t>(e)] = e;
      return std::vector<shard_layout>{
          {moe_.def.device, moe_.def.device_where, moe_.def.node, moe_.def.node_where,
           std::move(all), moe_.def.where}};
    }
    auto what = fmt::format("'shards' of stage '{}'", name());
    if (!expect_kind(*shards, toml_kind::array, what, errors_)) return std::nullopt;
    if (shards->items.empty()) {
      add_error(errors_, shards->where,
                fmt::format("{} is empty; list at least one {{ device = \"...\", experts = "
                            "\"0-{}\" }}, or leave it out to keep every expert on the stage's "
                            "device",
                            what, experts_ - 1));
      return std::nullopt;
    }
    std::vector<shard_layout> layout;
    std::vector<int> owner(static_cast<std::size_t>(experts_), -1);
    bool ok = true;
    for (std::size_t i = 0; i < shards->items.size(); ++i) {
      auto shard = read_shard(shards->items[i], fmt::format("shard {} of stage '{}'", i, name()));
      if (!shard) {
        ok = false;
        continue;
      }
      for (auto e : shard->experts) {
        auto& first = owner[static_cast<std::size_t>(e)];
        if (first >= 0) {
          errors_.push_back({shard->where, fmt::format("expert {} of stage '{}' is in shard {} "
                                                       "and shard {}; give each expert one shard",
                                                       e, name(), first, i)});
          ok = false;
        }
        first = static_cast<int>(i);
      }
      layout.push_back(std::move(*shard));
    }
    if (!ok) return std::nullopt;
    std::vector<std::int64_t> homeless;
    for (std::int64_t e = 0; e < experts_; ++e)
      if (owner[static_cast<std::size_t>(e)] < 0) homeless.push_back(e);
    if (!homeless.empty()) {
      add_error(errors_, shards->where,
                fmt::format("experts {} of stage '{}' are in no shard; every expert of the {} "
                            "needs one",
                            expert_set_text(homeless), name(), experts_));
      return std::nullopt;
    }
    return layout;
  }

 private:
  const std::string& name() const { return moe_.def.name; }

  std::optional<shard_layout> read_shard(const toml_node& node, const std::string& what) {
    if (!expect_kind(node, toml_kind::table, what, errors_)) return std::nullopt;
    check_keys(node, shard_keys, what, errors_);
    shard_layout shard;
    shard.where = node.where.source();
    const auto* device = node.get("device");
    const auto* experts = node.get("experts");
    if (device == nullptr || experts == nullptr) {
      add_error(errors_, node.where,
                fmt::format("{} needs both 'device' and 'experts' ({{ device = \"cpu0\", experts "
                            "= \"0-{}\" }})",
                            what, experts_ - 1));
      return std::nullopt;
    }
    auto device_name = read_string(*device, fmt::format("'device' of {}", what), errors_);
    auto set = read_string(*experts, fmt::format("'experts' of {}", what), errors_);
    if (!device_name || !set) return std::nullopt;
    if (context_.devices.count(*device_name) == 0) {
      std::vector<std::string> known(context_.devices.begin(), context_.devices.end());
      add_error(errors_, device->where,
                unknown_name_message(fmt::format("{} is placed on unknown device '{}'", what,
                                                 *device_name),
                                     *device_name, known, "devices"));
      return std::nullopt;
    }
    shard.device = *device_name;
    shard.device_where = device->where.source();
    shard.node = moe_.def.node;
    shard.node_where = moe_.def.node_where;
    if (const auto* node_key = node.get("node")) {
      auto node_name = read_string(*node_key, fmt::format("'node' of {}", what), errors_);
      if (!node_name) return std::nullopt;
      if (context_.nodes.count(*node_name) == 0) {
        std::vector<std::string> known(context_.nodes.begin(), context_.nodes.end());
        add_error(errors_, node_key->where,
                  unknown_name_message(fmt::format("{} runs on unknown node '{}'", what,
                                                   *node_name),
                                       *node_name, known, "nodes"));
        return std::nullopt;
      }
      shard.node = *node_name;
      shard.node_where = node_key->where.source();
    }
    try {
      shard.experts = parse_expert_set(*set, experts_);
    } catch (const std::exception& e) {
      add_error(errors_, experts->where, fmt::format("'experts' of {}: {}", what, e.what()));
      return std::nullopt;
    }
    return shard;
  }

  const stage_draft& moe_;
  const toml_node& table_;
  const stage_reading& context_;
  std::vector<diagnostic>& errors_;
  std::int64_t experts_;
};

param_values with(const param_values& base, std::initializer_list<std::pair<const char*, param_value>> extra) {
  auto values = base.values();
  for (const auto& [key, value] : extra) values[key] = value;
  return param_values(std::move(values));
}

const stage_spec* keep(graph_def& graph, stage_spec spec) {
  graph.expanded_specs.push_back(std::make_shared<const stage_spec>(std::move(spec)));
  return graph.expanded_specs.back().get();
}

// The parts of `moe`, linked to each other; the router takes over the stage's inputs.
std::vector<stage_draft> parts_of(const stage_draft& moe, const std::vector<shard_layout>& layout,
                                  const stage_reading& context, graph_def& graph) {
  const auto& name = moe.def.name;
  const auto shards = layout.size();
  std::vector<std::string> sets;
  for (const auto& shard : layout) sets.push_back(expert_set_text(shard.experts));
  auto internal_edge = [&](std::string from, std::string port, std::string to,
                           std::string to_port, source_position where) {
    edge_def edge;
    edge.from_stage = std::move(from);
    edge.from_port = std::move(port);
    edge.to_stage = std::move(to);
    edge.to_port = std::move(to_port);
    // The parts of one packet must all arrive: an edge inside a moe never drops.
    edge.capacity = context.defaults.capacity;
    edge.policy = full_policy::block;
    edge.where = std::move(where);
    return edge;
  };

  std::vector<stage_draft> parts;
  stage_draft router = moe;
  router.def.name = name + "/router";
  router.def.type = "moe_router";
  router.def.spec = keep(graph, moe_router_spec(shards));
  router.def.values = with(moe.def.values, {{moe_shard_experts_key, sets}});
  for (auto& edge : router.inputs) edge.to_stage = router.def.name;
  parts.push_back(std::move(router));

  stage_draft combiner = moe;
  combiner.def.type = "moe_combiner";
  combiner.def.spec = keep(graph, moe_combiner_spec(shards));
  combiner.inputs.clear();
  const auto* shard_spec = keep(graph, moe_shard_spec());
  for (std::size_t s = 0; s < shards; ++s) {
    stage_draft shard;
    shard.params_complete = true;
    shard.def.name = fmt::format("{}/shard{}", name, s);
    shard.def.type = "moe_shard";
    shard.def.spec = shard_spec;
    shard.def.device = layout[s].device;
    shard.def.device_where = layout[s].device_where;
    shard.def.node = layout[s].node;
    shard.def.node_where = layout[s].node_where;
    shard.def.placement = placement_mode::fixed;
    shard.def.on_error = moe.def.on_error;
    shard.def.restart = moe.def.restart;
    shard.def.where = layout[s].where;
    shard.def.values = with(moe.def.values, {{moe_experts_held_key, sets[s]},
                                             {moe_shard_index_key, static_cast<std::int64_t>(s)},
                                             {moe_shard_count_key, static_cast<std::int64_t>(shards)}});
    shard.inputs.push_back(internal_edge(name + "/router", moe_shard_port(s), shard.def.name, "in",
                                         layout[s].where));
    combiner.inputs.push_back(
        internal_edge(shard.def.name, "out", name, moe_shard_port(s), layout[s].where));
    parts.push_back(std::move(shard));
  }
  parts.push_back(std::move(combiner));
  return parts;
}

}  // namespace

const std::vector<std::string>& expansion_keys(std::string_view type) {
  return type == "moe" ? moe_keys : no_keys;
}

void expand_moe_stages(std::vector<stage_draft>& drafts, const toml_node& stages,
                       const stage_reading& context, graph_def& graph,
                       std::vector<diagnostic>& errors) {
  std::vector<stage_draft> out;
  for (auto& draft : drafts) {
    if (draft.def.type != "moe" || draft.def.spec == nullptr || !draft.params_complete) {
      out.push_back(std::move(draft));
      continue;
    }
    // After an error the stage stays as it is, so its edges still link and report only their
    // own mistakes; nothing runs.
    if (draft.def.replicas != 1) {
      errors.push_back({draft.def.where,
                        fmt::format("stage '{}' (moe) has replicas = {}; a moe stage spreads its "
                                    "experts with 'shards' instead",
                                    draft.def.name, draft.def.replicas)});
      out.push_back(std::move(draft));
      continue;
    }
    auto layout = moe_expander(draft, *stages.get(draft.def.name), context, errors).read_layout();
    if (!layout) {
      out.push_back(std::move(draft));
      continue;
    }
    for (auto& part : parts_of(draft, *layout, context, graph)) out.push_back(std::move(part));
  }
  drafts = std::move(out);
}

}  // namespace loom
