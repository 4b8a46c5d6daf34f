// The pre-norm transformer block of docs/model-architecture.md (tensors `blocks.{i}.*`):
//   x = x + attn(rms_norm(x, attn_norm.weight))
//   x = x + mlp(rms_norm(x, mlp_norm.weight))
// with RoPE multi-head attention and a SwiGLU MLP (attention_layer, swiglu_mlp). Runs in place on
// the activations; scratch is kept in the object (a stage is never called from two threads at
// once).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "devices/device.hpp"
#include "stages/model/layers/attention_layer.hpp"
#include "stages/model/layers/swiglu_mlp.hpp"
#include "stages/model/weights.hpp"

namespace loom {

class transformer_block {
 public:
  // prefix + ".attn_norm.weight" [d] (ones), ".attn.{q,k,v,o}.weight" [d, d],
  // ".mlp_norm.weight" [d] (ones), ".mlp.{gate,up}.weight" [d, d_ff], ".mlp.down.weight"
  // [d_ff, d], all of `type`; prefix is e.g. "blocks.0".
  static std::vector<weight_spec> specs(const std::string& prefix, std::int64_t d_model,
                                        std::int64_t heads, std::int64_t d_ff, dtype type);

  transformer_block() = default;
  transformer_block(const weights& w, const std::string& prefix, std::int64_t heads);

  std::int64_t d_model() const { return attn_.d_model(); }

  // x: [tokens, d_model] dense, updated in place.
  void forward(device& dev, float* x, std::int64_t tokens);

 private:
  std::vector<float> attn_norm_, mlp_norm_;
  attention_layer attn_;
  swiglu_mlp mlp_;
  std::vector<float> normed_;  // [tokens, d]
};

}  // namespace loom
