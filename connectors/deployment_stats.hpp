// The one `--stats json` summary of a deployment, from the stats each part reported: the stages
// and sinks as the graph names them (the zmq bridges that joined the parts left out), each edge
// that crossed two nodes put back together from its two halves (sent as delivered, drops of both
// halves), and the packets sent to a node that was lost before it accounted for them counted as
// `lost` on their edge.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "actors/runtime.hpp"
#include "connectors/graph_parts.hpp"

namespace loom {

struct part_outcome {
  std::string node;                 // "" for the coordinator's own part
  std::string address;
  std::optional<run_result> result;  // none: the node was lost
};

run_stats merge_part_stats(const graph_def& graph, const graph_split& split,
                           const std::vector<part_outcome>& parts, double seconds);

}  // namespace loom
