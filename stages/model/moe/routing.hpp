// Top-k routing of a DeepSeek-style MoE layer (docs/model-architecture.md): per token, the
// softmax of its router scores, the `top_k` most probable experts (ties go to the lower index)
// and their probabilities normalised to sum to one. The assignments come out grouped by expert,
// in the order the shards list their experts, so every shard's rows are one contiguous range
// and a shard receives them as views, not copies.
#pragma once

#include <cstdint>
#include <vector>

namespace loom {

struct moe_routes {
  std::vector<std::int32_t> tokens;   // per assignment, grouped by expert: the token it routes
  std::vector<float> gates;           // per assignment: its normalised weight
  // Per position p in `expert_order`: its assignments are rows [offsets[p], offsets[p + 1]).
  std::vector<std::int64_t> offsets;
};

// `scores` is [tokens, experts] router logits; it is overwritten with their softmax.
// `expert_order` lists every expert exactly once. `routes` is reused between calls, so a router
// allocates nothing once its sizes are steady.
void route_tokens(float* scores, std::int64_t tokens, std::int64_t experts, std::int64_t top_k,
                  const std::vector<std::int64_t>& expert_order, moe_routes& routes);

}  // namespace loom
