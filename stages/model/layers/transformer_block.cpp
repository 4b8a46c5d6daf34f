// The pre-norm transformer block (see transformer_block.hpp): both residual adds happen inside
// the output projections (gemm with beta = 1), so the block needs one normalised copy of x.
#include "stages/model/layers/transformer_block.hpp"

#include <stdexcept>

#include <fmt/format.h>

#include "stages/model/kernels/norms.hpp"
#include "stages/model/layers/widen.hpp"

namespace loom {

std::vector<weight_spec> transformer_block::specs(const std::string& prefix,
                                                  std::int64_t d_model, std::int64_t heads,
                                                  std::int64_t d_ff, dtype type) {
  std::vector<weight_spec> specs{{prefix + ".attn_norm.weight", type, {d_model}, weight_fill::ones}};
  auto attn = attention_layer::specs(prefix + ".attn", d_model, heads, type);
  specs.insert(specs.end(), attn.begin(), attn.end());
  specs.push_back({prefix + ".mlp_norm.weight", type, {d_model}, weight_fill::ones});
  auto mlp = swiglu_mlp::specs(prefix + ".mlp", d_model, d_ff, type);
  specs.insert(specs.end(), mlp.begin(), mlp.end());
  return specs;
}

transformer_block::transformer_block(const weights& w, const std::string& prefix,
                                     std::int64_t heads)
    : attn_norm_(widen_to_f32(w.get(prefix + ".attn_norm.weight"))),
      mlp_norm_(widen_to_f32(w.get(prefix + ".mlp_norm.weight"))),
      attn_(w, prefix + ".attn", heads),
      mlp_(w, prefix + ".mlp") {
  const auto d = static_cast<std::size_t>(attn_.d_model());
  if (attn_norm_.size() != d || mlp_norm_.size() != d || mlp_.d_model() != attn_.d_model())
    throw std::invalid_argument(fmt::format(
        "block \"{}\": the norms ({} and {}) and the MLP ({}) must all have the attention's "
        "d_model = {}",
        prefix, attn_norm_.size(), mlp_norm_.size(), mlp_.d_model(), d));
}

void transformer_block::forward(device& dev, float* x, std::int64_t tokens) {
  const std::int64_t d = d_model();
  if (static_cast<std::int64_t>(normed_.size()) < tokens * d)
    normed_.resize(static_cast<std::size_t>(tokens * d));
  kernels::rms_norm(x, attn_norm_.data(), normed_.data(), tokens, d);
  attn_.forward(dev, normed_.data(), tokens, x, true);
  kernels::rms_norm(x, mlp_norm_.data(), normed_.data(), tokens, d);
  mlp_.forward(dev, normed_.data(), tokens, x, true);
}

}  // namespace loom
