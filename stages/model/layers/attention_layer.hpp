// The attention half of a transformer block (docs/model-architecture.md), shared by the plain
// pre-norm block and the diffusion decoders' adaLN block:
//   q, k, v = h·attn.q.weight, h·attn.k.weight, h·attn.v.weight   (each [d, d], no bias)
//   q, k = rope(q), rope(k); a = softmax(q·kᵀ/sqrt(head_dim))·v per head
//   result = concat_heads(a) · attn.o.weight
// q, k and v are fused into one [d, 3d] product at load. Scratch is kept in the object and only
// grows; a stage is never called from two threads at once.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "devices/device.hpp"
#include "stages/model/kernels/rope.hpp"
#include "stages/model/layers/linear.hpp"
#include "stages/model/weights.hpp"

namespace loom {

class attention_layer {
 public:
  // prefix + ".q.weight", ".k.weight", ".v.weight", ".o.weight", each [d_model, d_model] of
  // `type` (prefix is e.g. "blocks.0.attn"). Throws std::invalid_argument unless d_model splits
  // into `heads` heads of an even head_dim.
  static std::vector<weight_spec> specs(const std::string& prefix, std::int64_t d_model,
                                        std::int64_t heads, dtype type);

  attention_layer() = default;
  attention_layer(const weights& w, const std::string& prefix, std::int64_t heads);

  std::int64_t d_model() const { return o_.out(); }
  std::int64_t heads() const { return heads_; }

  // out = attention(h) (or out += with `accumulate`), h and out [tokens, d_model] dense; out
  // must not overlap h.
  void forward(device& dev, const float* h, std::int64_t tokens, float* out,
               bool accumulate = false);

 private:
  linear qkv_, o_;
  std::int64_t heads_ = 0, head_dim_ = 0;
  kernels::rope_table rope_;
  std::vector<float> qkv_rows_;  // [tokens, 3d]
  std::vector<float> mixed_;     // [tokens, d], concat_heads(a)
  std::vector<float> scratch_;   // kernels::attention's
};

}  // namespace loom
