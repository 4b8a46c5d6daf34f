// A `moe` stage is a graph construct (docs/architecture.md): at plan time it becomes a router,
// one shard per entry of its `shards` key, each on its own device, and a combiner that keeps the
// stage's name, so edges that read NAME.out need not change (stages/model/moe/moe_stages.hpp).
//
//   shards = [{ device = "cpu0", experts = "0-7" }, { device = "cpu1", experts = "8-15" }]
//
// Without `shards`, one shard on the stage's own device holds every expert.
#pragma once

#include <set>
#include <string>
#include <vector>

#include "graphs/diagnostics.hpp"
#include "graphs/link_stages.hpp"
#include "graphs/read_stage.hpp"
#include "graphs/toml_tree.hpp"

namespace loom {

// Keys a stage table of `type` has beside its stage keys and parameters: {"shards"} for moe.
const std::vector<std::string>& expansion_keys(std::string_view type);

// Replaces every `moe` draft in `drafts` by its parts; the parts' specs are kept in
// `graph.expanded_specs`. `stages` is the [stages] table the drafts were read from.
void expand_moe_stages(std::vector<stage_draft>& drafts, const toml_node& stages,
                       const stage_reading& context, graph_def& graph,
                       std::vector<diagnostic>& errors);

}  // namespace loom
