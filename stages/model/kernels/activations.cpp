// SiLU, GELU and SwiGLU (see activations.hpp). SiLU's exp is detail::fast_exp, plain arithmetic,
// so the loops vectorise (cloned for AVX2); GELU's erf stays a library call — no model stage uses
// it in a hot loop.
#include "stages/model/kernels/activations.hpp"

#include <cmath>

#include "stages/model/kernels/vector_math.hpp"

namespace loom::kernels {

[[gnu::target_clones("arch=x86-64-v3", "default")]]
void silu(float* x, std::int64_t n) {
  for (std::int64_t i = 0; i < n; ++i) x[i] = x[i] / (1.0f + detail::fast_exp(-x[i]));
}

void gelu(float* x, std::int64_t n) {
  constexpr float inverse_sqrt2 = 0.70710678118654752f;
  for (std::int64_t i = 0; i < n; ++i) x[i] = 0.5f * x[i] * (1.0f + std::erf(x[i] * inverse_sqrt2));
}

[[gnu::target_clones("arch=x86-64-v3", "default")]]
void swiglu(const float* gate, const float* up, float* out, std::int64_t n) {
  for (std::int64_t i = 0; i < n; ++i) {
    const float g = gate[i];
    out[i] = g / (1.0f + detail::fast_exp(-g)) * up[i];
  }
}

}  // namespace loom::kernels
