// Joining the checked stages of a graph file into a graph: what each input reads from, cycles,
// replica counts, port types, and the order the stages are stored in.
#pragma once

#include <vector>

#include "graphs/diagnostics.hpp"
#include "graphs/graph.hpp"

namespace loom {

// One [stages.X] table after its own keys were checked.
struct stage_draft {
  stage_def def;                  // all but `inputs`; spec is null when the type is unknown
  bool params_complete = false;   // every parameter valid, so spec->infer may run on def.values
  std::vector<edge_def> inputs;   // as written, ports the type lacks left out; from_stage is
                                  // empty when the reference was malformed (already reported)
};

// Resolves every input against the other stages, reports cycles (naming the stages in each),
// replica counts that cannot be paired and dtype/rank mismatches, and stores the stages in
// `graph.stages`: sources first, every stage after its inputs, ties in file order.
void link_stages(std::vector<stage_draft> drafts, graph_def& graph,
                 std::vector<diagnostic>& errors);

}  // namespace loom
