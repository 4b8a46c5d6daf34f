// Multi-head bidirectional (unmasked) scaled dot-product attention on a device's matrix product:
// per head h, out_h = softmax(q_h · k_hᵀ / sqrt(head_dim)) · v_h. gemm_args has no transpose
// flag, so k is first transposed once into the scratch ([heads·head_dim, tokens]: head h's kᵀ is
// a plain row-major block of it); then each head is two gemm calls around a softmax over a
// [tokens, tokens] score block that is reused from head to head, its 1/sum applied to p·v.
// The device must compute in host memory (a cpu device): the softmax and the transpose run here.
#pragma once

#include <cstdint>

#include "devices/device.hpp"

namespace loom::kernels {

// Floats of scratch `attention` needs for `tokens` tokens of `heads`·`head_dim` features.
std::int64_t attention_scratch_floats(std::int64_t tokens, std::int64_t heads,
                                      std::int64_t head_dim);

// q, k, v: [tokens, heads·head_dim] with row strides ldq, ldk, ldv (RoPE already applied);
// out: [tokens, heads·head_dim] with row stride ldo, concat_heads order (head h at columns
// h·head_dim …). `scratch` holds attention_scratch_floats(...) floats; out must not overlap
// q, k, v or the scratch.
void attention(device& dev, const float* q, std::int64_t ldq, const float* k, std::int64_t ldk,
               const float* v, std::int64_t ldv, float* out, std::int64_t ldo,
               std::int64_t tokens, std::int64_t heads, std::int64_t head_dim, float* scratch);

}  // namespace loom::kernels
