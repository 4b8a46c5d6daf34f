#include "connectors/graph_parts.hpp"

#include <algorithm>
#include <filesystem>
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

// The unix socket of a shared-memory edge: one per deployment and edge, in the temporary folder
// the two processes of the host share.
std::string socket_path(const graph_def& graph, const crossing_edge& c) {
  auto name = fmt::format("loom-{}-edge{}.sock", graph.sha256.substr(0, 12), c.id);
  return (std::filesystem::temp_directory_path() / name).string();
}

using param_map = std::map<std::string, param_value, std::less<>>;

// The parameters of the two ends of crossing `c`: (receiving stage's, sending stage's).
std::pair<param_map, param_map> bridge_params(const graph_def& graph, const crossing_edge& c,
                                              const std::map<std::string, std::string>& keys) {
  auto capacity = static_cast<std::int64_t>(c.edge.capacity);
  if (c.over == crossing_edge::transport::shm) {
    auto path = socket_path(graph, c);
    return {{{"path", path}, {"capacity", capacity}}, {{"path", path}}};
  }
  const auto& binder = c.binding_node;
  bool receiver_binds = binder == c.to_node;
  auto bind_at = fmt::format("tcp://*:{}", c.port);
  auto connect_to = fmt::format("tcp://{}:{}", graph.nodes.at(binder).host, c.port);
  auto key = key_of(keys, binder);
  return {{{"endpoint", receiver_binds ? bind_at : connect_to},
           {"bind", receiver_binds},
           {"server_key", receiver_binds ? std::string() : key},
           {"edge", std::int64_t{c.id}},
           {"capacity", capacity},
           {"senders", std::int64_t{1}}},
          {{"endpoint", receiver_binds ? connect_to : bind_at},
           {"bind", !receiver_binds},
           {"server_key", receiver_binds ? key : std::string()},
           {"edge", std::int64_t{c.id}}}};
}

stage_def bridge_stage(const stage_spec& spec, std::string name, const std::string& node,
                       const crossing_edge& c, param_map params) {
  stage_def s;
  s.name = std::move(name);
  s.type = spec.type;
  s.spec = &spec;
  s.node = node;
  s.on_error = error_policy::fail;  // a broken edge ends the run; restarting cannot mend it
  s.where = c.edge.where;
  s.values = bridge_values(spec, std::move(params));
  return s;
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
      bool one_host = !producer.node.empty() && !consumer.node.empty() &&
                      graph.nodes.at(producer.node).host == graph.nodes.at(consumer.node).host;
      if (one_host) {
        c.over = crossing_edge::transport::shm;
      } else {
        c.port = next_port[c.binding_node]++;
      }
      c.sender_stage = edge_text(e) + "/send";
      c.receiver_stage = edge_text(e) + "/receive";
      split.crossings.push_back(std::move(c));
    }
  return split;
}

graph_def part_of(const graph_def& graph, const graph_split& split, const std::string& node,
                  const stage_registry& registry,
                  const std::map<std::string, std::string>& public_keys) {
  graph_def part = graph;
  std::vector<stage_def> receivers, senders;
  std::map<std::pair<std::string, std::string>, const crossing_edge*> entering;  // (stage, port)
  for (const auto& c : split.crossings) {
    if (c.to_node != node && c.from_node != node) continue;
    bool shm = c.over == crossing_edge::transport::shm;
    auto [receiving, sending] = bridge_params(graph, c, public_keys);
    const auto& producer = *graph.find(c.edge.from_stage);
    auto carried = producer.output_types.at(*producer.spec->output_index(c.edge.from_port));
    if (c.to_node == node) {
      auto r = bridge_stage(bridge_spec(registry, shm ? "shm_source" : "zmq_source"),
                            c.receiver_stage, node, c, std::move(receiving));
      r.output_types = {carried};
      receivers.push_back(std::move(r));
      entering[{c.edge.to_stage, c.edge.to_port}] = &c;
    }
    if (c.from_node == node) {
      auto s = bridge_stage(bridge_spec(registry, shm ? "shm_sink" : "zmq_sink"), c.sender_stage,
                            node, c, std::move(sending));
      s.input_types = {carried};
      edge_def in = c.edge;
      in.to_stage = s.name;
      in.to_port = "in";
      // Between processes travels host memory: a producer on a device hands its tensors over.
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
