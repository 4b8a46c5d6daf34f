// Splits a graph with [nodes] into the part each node runs. Every edge whose two stages run on
// different nodes becomes a pair of stages joined over ZeroMQ: a `zmq_sink` on the producer's
// node and a `zmq_source` on the consumer's, which keep the edge's capacity and policy — the
// in-process edge into the zmq_sink blocks or drops by the edge's policy, and the zmq_source
// grants the sender as many credits as the edge has room, so no more than that is ever in flight.
//
//   node a: P ──(capacity, policy)──▶ [P.out->C.in/send] zmq_sink ─┐ tcp
//   node b:            [P.out->C.in/receive] zmq_source ──────────┘──(capacity, policy)──▶ C
//
// The receiving side binds, at its node's port + 1, + 2, ... in edge order, and the sending side
// connects. Stages without `node` run in the coordinator's process (node ""), which has no
// address: an edge from a node into the coordinator is the other way round (the node's zmq_sink
// binds, the coordinator's zmq_source connects).
//
// Two nodes whose addresses name the same host (several processes on one machine) are joined by
// shared memory instead: an `shm_sink` → `shm_source` pair over a unix socket in the temporary
// folder (connectors/shm_channel.hpp), so large tensors cross without a copy.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "graphs/graph.hpp"
#include "stages/registry.hpp"

namespace loom {

struct crossing_edge {
  enum class transport { zmq, shm };
  std::uint32_t id = 0;        // the edge id in the data plane's frames
  edge_def edge;               // as the graph has it
  transport over = transport::zmq;
  std::string from_node, to_node;
  std::string binding_node;    // the one of the two that binds (it has an address)
  int port = 0;                // zmq: where it binds, on binding_node's host
  std::string sender_stage;    // the zmq_sink (shm_sink) on from_node
  std::string receiver_stage;  // the zmq_source (shm_source) on to_node
};

struct graph_split {
  std::vector<std::string> nodes;        // the nodes that run stages; "" (the coordinator) first
  std::vector<crossing_edge> crossings;  // in stage order
  bool is_bridge(std::string_view stage) const;
};

graph_split split_graph(const graph_def& graph);

// The graph node `node` runs: its stages, a zmq_source in place of each edge that enters it and
// a zmq_sink for each that leaves it. `public_keys` maps node names to their CURVE public keys
// (Z85), for connecting under CURVE; empty when insecure. Needs zmq_source and zmq_sink in
// `registry`.
graph_def part_of(const graph_def& graph, const graph_split& split, const std::string& node,
                  const stage_registry& registry,
                  const std::map<std::string, std::string>& public_keys);

// Which stages run where, as "node a: prompt, tokens; node b: text" for messages.
std::string stages_on(const graph_def& graph, const std::string& node);

}  // namespace loom
