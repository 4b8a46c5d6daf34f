#include "connectors/graph_parts.hpp"

#include <algorithm>
#include <stdexcept>

#include <fmt/format.h>

namespace loom {
namespace {

std::string edge_text(const edge_def& e) {
  return fmt::format("{}.{}->{}.{}", e.from_stage, e.from_port, e.to_stage, e.to_port);
}

// Every parameter of `type` at its default, then `values` over them, as check_params would
// leave a stage table that set them.
param_values bridge_values(const stage_spec& spec,
                           std::map<std::string, param_value, std::less<>> values) {
  for (const auto& p : spec.params)
    if (p.default_value && values.count(p.key) == 0) values.emplace(p.key, *p.default_value);
  return param_values(std::move(values));
}

const stage_spec& bridge_spec(const stage_registry& registry, std::string_view type) {
  const auto* spec = registry.find(type);
  if (spec == nullptr)
    throw std::logic_error(fmt::format("this loom has no '{}' stage type to join nodes", type));
  return *spec;
}

std::string key_of(const std::map<std::string, std::string>& keys, const std::string& node) {
  auto it = keys.find(node);
  return it == keys.end() ? std::string() : it->second;
}

}  // namespace

bool graph_split::is_bridge(std::string_view stage) const {
  return std::any_of(crossings.begin(), crossings.end(), [&](const crossing_edge& c) {
    return c.sender_stage == stage || c.receiver_stage == stage;
  });
}

graph_split split_graph(const graph_def& graph) {
  graph_split split;
  for (const auto& s : graph.stages)
    if (std::find(split.nodes.begin(), split.nodes.end(), s.node) == split.nodes.end())
      split.nodes.push_back(s.node);
  std::stable_partition(split.nodes.begin(), split.nodes.end(),
                        [](const std::string& n) { return n.empty(); });
  std::map<std::string, int> next_port;
  for (const auto& [name, node] : graph.nodes) next_port[name] = node.port + 1;
  for (const auto& consumer : graph.stages)
    for (const auto& e : consumer.inputs) {
      const auto& producer = *graph.find(e.from_stage);
      if (producer.node == consumer.node) continue;
      crossing_edge c;
      c.id = static_cast<std::uint32_t>(split.crossings.size());
      c.edge = e;
      c.from_node = producer.node;
      c.to_node = consumer.node;
      c.binding_node = consumer.node.empty() ? producer.node : consumer.node;
      c.port = next_port[c.binding_node]++;
      c.sender_stage = edge_text(e) + "/send";
      c.receiver_stage = edge_text(e) + "/receive";
      split.crossings.push_back(std::move(c));
    }
  return split;
}

graph_def part_of(const graph_def& graph, const graph_split& split, const std::string& node,
                  const stage_registry& registry,
                  const std::map<std::string, std::string>& public_keys) {
  const auto& source_spec = bridge_spec(registry, "zmq_source");
  const auto& sink_spec = bridge_spec(registry, "zmq_sink");
  graph_def part = graph;
  part.stages.clear();
  std::vector<stage_def> receivers, senders;
  std::map<std::pair<std::string, std::string>, const crossing_edge*> entering;  // (stage, port)
  for (const auto& c : split.crossings) {
    const auto& binder = c.binding_node;
    const auto& host = graph.nodes.at(binder).host;
    bool receiver_binds = binder == c.to_node;
    std::string bind_at = fmt::format("tcp://*:{}", c.port);
    std::string connect_to = fmt::format("tcp://{}:{}", host, c.port);
    const auto& producer = *graph.find(c.edge.from_stage);
    auto out_port = *producer.spec->output_index(c.edge.from_port);
    auto carried = producer.output_types.at(out_port);
    if (c.to_node == node) {
      stage_def r;
      r.name = c.receiver_stage;
      r.type = source_spec.type;
      r.spec = &source_spec;
      r.node = node;
      r.on_error = error_policy::fail;
      r.where = c.edge.where;
      r.output_types = {carried};
      r.values = bridge_values(
          source_spec, {{"endpoint", receiver_binds ? bind_at : connect_to},
                        {"bind", receiver_binds},
                        {"server_key", receiver_binds ? std::string() : key_of(public_keys, binder)},
                        {"edge", std::int64_t{c.id}},
                        {"capacity", static_cast<std::int64_t>(c.edge.capacity)},
                        {"senders", std::int64_t{1}}});
      receivers.push_back(std::move(r));
      entering[{c.edge.to_stage, c.edge.to_port}] = &c;
    }
    if (c.from_node == node) {
      stage_def s;
      s.name = c.sender_stage;
      s.type = sink_spec.type;
      s.spec = &sink_spec;
      s.node = node;
      s.on_error = error_policy::fail;
      s.where = c.edge.where;
      s.input_types = {carried};
      s.values = bridge_values(
          sink_spec, {{"endpoint", receiver_binds ? connect_to : bind_at},
                      {"bind", !receiver_binds},
                      {"server_key", receiver_binds ? key_of(public_keys, binder) : std::string()},
                      {"edge", std::int64_t{c.id}}});
      edge_def in = c.edge;
      in.to_stage = s.name;
      in.to_port = "in";
      // The wire carries host memory: a producer on a device hands its tensors over first.
      in.transfer = graph.device_of(producer).caps.memory_space != host_memory_space;
      s.inputs = {std::move(in)};
      senders.push_back(std::move(s));
    }
  }
  // Sources first, every stage after its inputs: the receivers are sources, the senders sinks.
  part.stages = std::move(receivers);
  for (const auto& s : graph.stages) {
    if (s.node != node) continue;
    auto copy = s;
    for (auto& e : copy.inputs) {
      auto it = entering.find({e.to_stage, e.to_port});
      if (it == entering.end()) continue;
      e.from_stage = it->second->receiver_stage;
      e.from_port = "out";
      e.transfer = graph.device_of(s).caps.memory_space != host_memory_space;
    }
    part.stages.push_back(std::move(copy));
  }
  for (auto& s : senders) part.stages.push_back(std::move(s));
  return part;
}

std::string stages_on(const graph_def& graph, const std::string& node) {
  std::vector<std::string> names;
  for (const auto& s : graph.stages)
    if (s.node == node) names.push_back(s.name);
  return fmt::format("{}", fmt::join(names, ", "));
}

}  // namespace loom
