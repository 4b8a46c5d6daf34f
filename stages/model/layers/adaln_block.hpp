// The diffusion decoders' adaLN transformer block (docs/model-architecture.md): the attention and
// MLP tensors of transformer_block without its two norm weights, plus `ada.weight` [d, 6d] and
// `ada.bias` [6d]. For a conditioning vector c [d]:
//   (shift1, scale1, gate1, shift2, scale2, gate2) = chunks of silu(c) · ada.weight + ada.bias
//   x = x + gate1 ⊙ attn(layer_norm(x) ⊙ (1 + scale1) + shift1)
//   x = x + gate2 ⊙ mlp(layer_norm(x) ⊙ (1 + scale2) + shift2)
// (layer_norm without affine; the gates multiply each row element-wise). Attention and MLP are
// the same attention_layer and swiglu_mlp the plain block uses.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "devices/device.hpp"
#include "stages/model/layers/attention_layer.hpp"
#include "stages/model/layers/linear.hpp"
#include "stages/model/layers/swiglu_mlp.hpp"
#include "stages/model/weights.hpp"

namespace loom {

class adaln_block {
 public:
  // prefix + ".attn.{q,k,v,o}.weight" [d, d], ".mlp.{gate,up}.weight" [d, d_ff],
  // ".mlp.down.weight" [d_ff, d], ".ada.weight" [d, 6d] and ".ada.bias" [6d] (uniform,
  // fan_in = d), all of `type`; prefix is e.g. "blocks.0".
  static std::vector<weight_spec> specs(const std::string& prefix, std::int64_t d_model,
                                        std::int64_t heads, std::int64_t d_ff, dtype type);

  adaln_block() = default;
  adaln_block(const weights& w, const std::string& prefix, std::int64_t heads);

  std::int64_t d_model() const { return attn_.d_model(); }

  // x: [tokens, d_model] dense, updated in place; c: the conditioning vector [d_model] before
  // silu (the block applies silu itself).
  void forward(device& dev, float* x, std::int64_t tokens, const float* c);

 private:
  attention_layer attn_;
  swiglu_mlp mlp_;
  linear ada_;
  std::vector<float> silu_c_;      // [d]
  std::vector<float> modulation_;  // [6d]
  std::vector<float> normed_;      // [tokens, d]
  std::vector<float> branch_;      // [tokens, d]
};

}  // namespace loom
