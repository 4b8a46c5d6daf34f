#include "stages/model/moe/routing.hpp"

#include "stages/model/kernels/softmax.hpp"

namespace loom {

void route_tokens(float* scores, std::int64_t tokens, std::int64_t experts, std::int64_t top_k,
                  const std::vector<std::int64_t>& expert_order, moe_routes& routes) {
  kernels::softmax_rows(scores, tokens, experts, experts);
  // First pass: each token's choice, kept per token; then a counting sort by expert.
  thread_local std::vector<std::int32_t> chosen;
  thread_local std::vector<float> weight;
  chosen.resize(static_cast<std::size_t>(tokens * top_k));
  weight.resize(chosen.size());
  thread_local std::vector<std::int64_t> position, next;
  position.resize(static_cast<std::size_t>(experts));
  for (std::size_t p = 0; p < expert_order.size(); ++p)
    position[static_cast<std::size_t>(expert_order[p])] = static_cast<std::int64_t>(p);
  routes.offsets.assign(static_cast<std::size_t>(experts) + 1, 0);
  for (std::int64_t t = 0; t < tokens; ++t) {
    const float* p = scores + t * experts;
    std::int32_t* pick = chosen.data() + t * top_k;
    float* w = weight.data() + t * top_k;
    float sum = 0;
    for (std::int64_t j = 0; j < top_k; ++j) {
      std::int32_t best = -1;
      for (std::int32_t e = 0; e < experts; ++e) {
        bool taken = false;
        for (std::int64_t i = 0; i < j; ++i) taken = taken || pick[i] == e;
        // Strictly greater: among equal probabilities the lower index wins.
        if (!taken && (best < 0 || p[e] > p[best])) best = e;
      }
      pick[j] = best;
      w[j] = p[best];
      sum += p[best];
    }
    for (std::int64_t j = 0; j < top_k; ++j) {
      w[j] /= sum;
      ++routes.offsets[static_cast<std::size_t>(position[static_cast<std::size_t>(pick[j])]) + 1];
    }
  }
  for (std::size_t p = 1; p < routes.offsets.size(); ++p) routes.offsets[p] += routes.offsets[p - 1];
  routes.tokens.resize(chosen.size());
  routes.gates.resize(chosen.size());
  next.assign(routes.offsets.begin(), routes.offsets.end() - 1);
  // Tokens ascend within each expert's rows: the order a reference implementation sees them in.
  for (std::int64_t t = 0; t < tokens; ++t)
    for (std::int64_t j = 0; j < top_k; ++j) {
      auto slot = next[static_cast<std::size_t>(
          position[static_cast<std::size_t>(chosen[static_cast<std::size_t>(t * top_k + j)])])]++;
      routes.tokens[static_cast<std::size_t>(slot)] = static_cast<std::int32_t>(t);
      routes.gates[static_cast<std::size_t>(slot)] = weight[static_cast<std::size_t>(t * top_k + j)];
    }
}

}  // namespace loom
