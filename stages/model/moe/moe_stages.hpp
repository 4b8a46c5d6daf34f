// The stage types a `moe` stage becomes. A graph file names one `moe` stage; at plan time
// (graphs/expand_moe.cpp) it expands into a router, one shard per entry of its `shards` and a
// combiner that keeps the stage's name:
//
//   NAME/router ──shard0──▶ NAME/shard0 ──┐
//               ──shard1──▶ NAME/shard1 ──┴──▶ NAME (combiner) ──out──▶ ...
//
// The router scores the tokens and sends each shard the rows routed to its experts as views of
// one routing table, with the input tensor itself (no copy); each shard runs its experts' SwiGLU
// products on its own device and its share of the shared experts; the combiner sums.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "stages/model/weights.hpp"
#include "stages/stage.hpp"

namespace loom {

// The `moe` type that graph files name (its parameters and documentation). It is never run:
// its `make` throws.
stage_spec moe_spec();

// The parts. `shards` is the number of shards; every part takes the `moe` stage's parameters
// plus the layout keys below.
stage_spec moe_router_spec(std::size_t shards);
stage_spec moe_shard_spec();
stage_spec moe_combiner_spec(std::size_t shards);

// Layout keys added to the parts' parameters by the expansion.
inline constexpr const char* moe_shard_experts_key = "shard_experts";  // router: each shard's set
inline constexpr const char* moe_experts_held_key = "experts_held";    // shard: its set
inline constexpr const char* moe_shard_index_key = "shard";            // shard: which one
inline constexpr const char* moe_shard_count_key = "shards";           // shard: how many

std::string moe_shard_port(std::size_t shard);  // "shard0", "shard1", ...

// The parameters every part shares with `moe`.
std::vector<param_spec> moe_params();

// The weight tensors of one expert ("experts.3" or "shared.0"), as weights::open takes them.
std::vector<weight_spec> moe_expert_weights(const std::string& prefix, const param_values& p);

}  // namespace loom
