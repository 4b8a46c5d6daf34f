// Cost and energy per output, estimated from where the time went: each stage's busy seconds
// on its device, priced at the device's `cost_per_hour` and drawing its `watts`. A sink's figure
// is everything upstream of it (shared stages counted in full for each sink that needs them)
// divided by the packets it received. Devices that declare neither leave the figures out.
#pragma once

#include "actors/stats.hpp"
#include "graphs/graph.hpp"

namespace loom {

// Fills `stats.devices` and each sink's cost and energy per output from the stage stats.
void add_costs(const graph_def& graph, run_stats& stats);

}  // namespace loom
