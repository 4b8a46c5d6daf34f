// Multi-head attention as two row-major gemm calls per head around a softmax (see attention.hpp).
// The softmax leaves its rows unnormalised and each head's p·v rows are scaled by 1/sum instead:
// head_dim multiplies per query rather than `tokens`.
#include "stages/model/kernels/attention.hpp"

#include <algorithm>
#include <cmath>

#include "stages/model/kernels/softmax.hpp"

namespace loom::kernels {
namespace {

// kt[c, t] = k[t, c] for the `width` = heads·head_dim columns of k, so head h's kᵀ is rows
// h·head_dim … of kt. Blocked so both sides stay in cache.
void transpose(const float* k, std::int64_t ldk, std::int64_t tokens, std::int64_t width,
               float* kt) {
  constexpr std::int64_t block = 32;
  for (std::int64_t t0 = 0; t0 < tokens; t0 += block)
    for (std::int64_t c0 = 0; c0 < width; c0 += block) {
      const std::int64_t t1 = std::min(tokens, t0 + block), c1 = std::min(width, c0 + block);
      for (std::int64_t c = c0; c < c1; ++c)
        for (std::int64_t t = t0; t < t1; ++t) kt[c * tokens + t] = k[t * ldk + c];
    }
}

// Row r of the [rows, cols] block at x (row stride ld) is multiplied by factors[r].
[[gnu::target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")]]
void scale_rows(float* x, std::int64_t ld, std::int64_t rows, std::int64_t cols,
                const float* factors) {
  for (std::int64_t r = 0; r < rows; ++r)
    for (std::int64_t c = 0; c < cols; ++c) x[r * ld + c] *= factors[r];
}

const std::byte* bytes(const float* p) { return reinterpret_cast<const std::byte*>(p); }
std::byte* bytes(float* p) { return reinterpret_cast<std::byte*>(p); }

}  // namespace

std::int64_t attention_scratch_floats(std::int64_t tokens, std::int64_t heads,
                                      std::int64_t head_dim) {
  return tokens * heads * head_dim + tokens * tokens + tokens;
}

void attention(device& dev, const float* q, std::int64_t ldq, const float* k, std::int64_t ldk,
               const float* v, std::int64_t ldv, float* out, std::int64_t ldo,
               std::int64_t tokens, std::int64_t heads, std::int64_t head_dim, float* scratch) {
  const std::int64_t width = heads * head_dim;
  float* kt = scratch;
  float* scores = scratch + tokens * width;
  float* inverse_sums = scores + tokens * tokens;
  transpose(k, ldk, tokens, width, kt);
  const float scale = 1.0f / std::sqrt(static_cast<float>(head_dim));
  for (std::int64_t h = 0; h < heads; ++h) {
    gemm_args qk;
    qk.m = tokens, qk.n = tokens, qk.k = head_dim;
    qk.a = bytes(q + h * head_dim), qk.lda = ldq;
    qk.b = bytes(kt + h * head_dim * tokens), qk.ldb = tokens;
    qk.c = bytes(scores), qk.ldc = tokens;
    qk.alpha = scale;
    dev.gemm(qk);
    softmax_rows_unscaled(scores, tokens, tokens, tokens, inverse_sums);
    gemm_args pv;
    pv.m = tokens, pv.n = head_dim, pv.k = tokens;
    pv.a = bytes(scores), pv.lda = tokens;
    pv.b = bytes(v + h * head_dim), pv.ldb = ldv;
    pv.c = bytes(out + h * head_dim), pv.ldc = ldo;
    dev.gemm(pv);
    scale_rows(out + h * head_dim, ldo, tokens, head_dim, inverse_sums);
  }
}

}  // namespace loom::kernels
