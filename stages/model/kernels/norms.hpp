// Row normalisations of f32 activations, as docs/model-architecture.md defines them: RMSNorm with
// a scale (the transformer blocks and the encoders' final norm) and LayerNorm without affine (the
// diffusion decoders' adaLN blocks, whose scale and shift come from the conditioning instead).
// Rows are dense: `rows` rows of `dim` floats, one after another.
#pragma once

#include <cstdint>

namespace loom::kernels {

// The eps every model stage uses (docs/model-architecture.md).
inline constexpr float norm_eps = 1e-6f;

// y = x / sqrt(mean(x²) + eps) · weight, per row; `weight` is [dim]. `y` may be `x`.
void rms_norm(const float* x, const float* weight, float* y, std::int64_t rows, std::int64_t dim,
              float eps = norm_eps);

// y = (x − mean) / sqrt(var + eps), per row, with the biased variance. `y` may be `x`.
void layer_norm(const float* x, float* y, std::int64_t rows, std::int64_t dim,
                float eps = norm_eps);

// adaLN's modulation fused with the norm: y = layer_norm(x) ⊙ (1 + scale) + shift, per row, with
// `shift` and `scale` [dim] shared by every row. `y` may be `x`.
void modulated_layer_norm(const float* x, const float* shift, const float* scale, float* y,
                          std::int64_t rows, std::int64_t dim, float eps = norm_eps);

}  // namespace loom::kernels
