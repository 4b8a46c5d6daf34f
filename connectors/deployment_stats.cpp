#include "connectors/deployment_stats.hpp"

#include <fmt/format.h>

#include "actors/cost_per_output.hpp"

namespace loom {
namespace {

std::string outcome_name(run_result::outcome o) {
  switch (o) {
    case run_result::outcome::completed: return "completed";
    case run_result::outcome::interrupted: return "interrupted";
    case run_result::outcome::failed: return "failed";
  }
  return "failed";
}

}  // namespace

run_stats merge_part_stats(const graph_def& graph, const graph_split& split,
                           const std::vector<part_outcome>& parts, double seconds) {
  run_stats merged;
  merged.graph = graph.name;
  merged.seconds = seconds;
  std::map<std::string, const run_stats*> by_node;
  for (const auto& part : parts) {
    auto& node = merged.nodes[part.node];
    node.address = part.address;
    if (!part.result) {
      node.outcome = "lost";
      continue;
    }
    const auto& stats = part.result->stats;
    by_node[part.node] = &stats;
    node.outcome = outcome_name(part.result->status);
    node.seconds = stats.seconds;
    node.peak_rss_bytes = stats.peak_rss_bytes;
    merged.bytes_copied += stats.bytes_copied;
    merged.peak_rss_bytes += stats.peak_rss_bytes;
    for (const auto& [name, s] : stats.stages)
      if (!split.is_bridge(name)) merged.stages[name] = s;
    for (const auto& [name, s] : stats.sinks)
      if (!split.is_bridge(name)) merged.sinks[name] = s;
    for (const auto& [name, e] : stats.edges) merged.edges[name] = e;
  }
  // Stages of lost nodes: named, with nothing counted.
  for (const auto& s : graph.stages)
    if (merged.stages.count(s.name) == 0) {
      auto& st = merged.stages[s.name];
      st.type = s.type;
      st.device = s.device;
      st.replicas = s.replicas;
    }
  for (const auto& c : split.crossings) {
    const auto& e = c.edge;
    // The two halves as the parts named them: into the sender, out of the receiver.
    edge_def into_sender = e, out_of_receiver = e;
    into_sender.to_stage = c.sender_stage;
    into_sender.to_port = "in";
    out_of_receiver.from_stage = c.receiver_stage;
    out_of_receiver.from_port = "out";
    auto sending = edge_label(into_sender);
    auto receiving = edge_label(out_of_receiver);
    edge_stats whole;
    whole.transport = c.over == crossing_edge::transport::shm ? "shm" : "tcp";
    whole.policy = std::string(name_of(e.policy));
    whole.capacity = e.capacity;
    auto half = [&](const std::string& name) -> const edge_stats* {
      auto it = merged.edges.find(name);
      return it == merged.edges.end() ? nullptr : &it->second;
    };
    const auto* out = half(sending);
    const auto* in = half(receiving);
    if (out != nullptr) {
      whole.dropped += out->dropped;
      whole.bytes_transferred += out->bytes_transferred;
      // The sending half's drops happened before the consumer, on its edge.
      if (auto consumer = merged.stages.find(e.to_stage); consumer != merged.stages.end())
        consumer->second.dropped += out->dropped;
    }
    if (in != nullptr) {
      whole.sent = in->sent;
      whole.dropped += in->dropped;
      whole.bytes_transferred += in->bytes_transferred;
    } else if (out != nullptr && by_node.count(c.to_node) == 0) {
      whole.lost = out->sent;
    }
    merged.edges.erase(sending);
    merged.edges.erase(receiving);
    merged.edges[edge_label(e)] = whole;
  }
  add_costs(graph, merged);
  return merged;
}

}  // namespace loom
