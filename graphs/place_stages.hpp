// Puts every stage on a device and plans the transfers between them, before anything runs:
// checks that each stage's type works on its device's kind, picks a device for each stage
// placed "auto" by the cost model (graphs/cost_model.hpp) and writes down why, checks that what
// the stages keep resident fits each device's memory, and marks every edge whose two ends live in
// different memory spaces as a transfer.
#pragma once

#include <vector>

#include "graphs/diagnostics.hpp"
#include "graphs/graph.hpp"

namespace loom {

// `graph.stages` must be linked (every stage after its inputs, port types inferred).
void place_stages(graph_def& graph, std::vector<diagnostic>& errors);

// What a stage keeps resident on its device while open, replicas included.
std::size_t resident_bytes(const stage_def& stage);

}  // namespace loom
