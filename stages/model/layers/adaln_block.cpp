// The adaLN transformer block (see adaln_block.hpp). The six modulation vectors come from one
// one-row product per call; each branch is normalised and modulated in one pass, run into a
// scratch, and added back gated.
#include "stages/model/layers/adaln_block.hpp"

#include <algorithm>
#include <stdexcept>

#include <fmt/format.h>

#include "stages/model/kernels/activations.hpp"
#include "stages/model/kernels/norms.hpp"

namespace loom {
namespace {

// x[t, :] += gate ⊙ branch[t, :]
[[gnu::target_clones("arch=x86-64-v3", "default")]]
void add_gated(float* x, const float* gate, const float* branch, std::int64_t tokens,
               std::int64_t d) {
  for (std::int64_t t = 0; t < tokens; ++t)
    for (std::int64_t i = 0; i < d; ++i) x[t * d + i] += gate[i] * branch[t * d + i];
}

}  // namespace

std::vector<weight_spec> adaln_block::specs(const std::string& prefix, std::int64_t d_model,
                                            std::int64_t heads, std::int64_t d_ff, dtype type) {
  auto specs = attention_layer::specs(prefix + ".attn", d_model, heads, type);
  auto mlp = swiglu_mlp::specs(prefix + ".mlp", d_model, d_ff, type);
  auto ada = linear::specs(prefix + ".ada", d_model, 6 * d_model, true, type);
  specs.insert(specs.end(), mlp.begin(), mlp.end());
  specs.insert(specs.end(), ada.begin(), ada.end());
  return specs;
}

adaln_block::adaln_block(const weights& w, const std::string& prefix, std::int64_t heads)
    : attn_(w, prefix + ".attn", heads), mlp_(w, prefix + ".mlp"), ada_(w, prefix + ".ada") {
  const std::int64_t d = attn_.d_model();
  if (mlp_.d_model() != d || ada_.in() != d || ada_.out() != 6 * d)
    throw std::invalid_argument(fmt::format(
        "block \"{}\": the MLP's d_model ({}) and ada [{}, {}] must match d_model = {} "
        "(ada is [d, 6d])",
        prefix, mlp_.d_model(), ada_.in(), ada_.out(), d));
  silu_c_.resize(static_cast<std::size_t>(d));
  modulation_.resize(static_cast<std::size_t>(6 * d));
}

void adaln_block::forward(device& dev, float* x, std::int64_t tokens, const float* c) {
  const std::int64_t d = d_model();
  const auto needed = static_cast<std::size_t>(tokens * d);
  if (normed_.size() < needed) normed_.resize(needed);
  if (branch_.size() < needed) branch_.resize(needed);

  std::copy(c, c + d, silu_c_.begin());
  kernels::silu(silu_c_.data(), d);
  ada_.forward(dev, silu_c_.data(), 1, d, modulation_.data(), 6 * d);
  const float* shift1 = modulation_.data();
  const float* scale1 = shift1 + d;
  const float* gate1 = shift1 + 2 * d;
  const float* shift2 = shift1 + 3 * d;
  const float* scale2 = shift1 + 4 * d;
  const float* gate2 = shift1 + 5 * d;

  kernels::modulated_layer_norm(x, shift1, scale1, normed_.data(), tokens, d);
  attn_.forward(dev, normed_.data(), tokens, branch_.data());
  add_gated(x, gate1, branch_.data(), tokens, d);
  kernels::modulated_layer_norm(x, shift2, scale2, normed_.data(), tokens, d);
  mlp_.forward(dev, normed_.data(), tokens, branch_.data());
  add_gated(x, gate2, branch_.data(), tokens, d);
}

}  // namespace loom
