// Element-wise activations over dense f32 arrays of `n` elements: SiLU, exact (erf) GELU, and the
// SwiGLU gate of the transformer MLP (docs/model-architecture.md).
#pragma once

#include <cstdint>

namespace loom::kernels {

// x = x · sigmoid(x), in place.
void silu(float* x, std::int64_t n);

// x = x · (1 + erf(x / √2)) / 2, in place.
void gelu(float* x, std::int64_t n);

// out = silu(gate) ⊙ up. `out` may be `gate` (or `up`).
void swiglu(const float* gate, const float* up, float* out, std::int64_t n);

}  // namespace loom::kernels
