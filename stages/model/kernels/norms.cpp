// RMSNorm, LayerNorm and adaLN's modulated LayerNorm over rows (see norms.hpp). Each row is
// reduced with eight-lane sums and rescaled in one pass; both loops vectorise, cloned for AVX2.
#include "stages/model/kernels/norms.hpp"

#include <cmath>

#include "stages/model/kernels/vector_math.hpp"

namespace loom::kernels {

[[gnu::target_clones("arch=x86-64-v3", "default")]]
void rms_norm(const float* x, const float* weight, float* y, std::int64_t rows, std::int64_t dim,
              float eps) {
  for (std::int64_t r = 0; r < rows; ++r) {
    const float* in = x + r * dim;
    float* out = y + r * dim;
    const float inverse =
        1.0f / std::sqrt(detail::sum_of_squares(in, dim) / static_cast<float>(dim) + eps);
    for (std::int64_t i = 0; i < dim; ++i) out[i] = in[i] * inverse * weight[i];
  }
}

[[gnu::target_clones("arch=x86-64-v3", "default")]]
void layer_norm(const float* x, float* y, std::int64_t rows, std::int64_t dim, float eps) {
  for (std::int64_t r = 0; r < rows; ++r) {
    const float* in = x + r * dim;
    float* out = y + r * dim;
    const float mean = detail::sum(in, dim) / static_cast<float>(dim);
    const float inverse = 1.0f / std::sqrt(detail::squared_deviation(in, dim, mean) /
                                               static_cast<float>(dim) + eps);
    for (std::int64_t i = 0; i < dim; ++i) out[i] = (in[i] - mean) * inverse;
  }
}

[[gnu::target_clones("arch=x86-64-v3", "default")]]
void modulated_layer_norm(const float* x, const float* shift, const float* scale, float* y,
                          std::int64_t rows, std::int64_t dim, float eps) {
  for (std::int64_t r = 0; r < rows; ++r) {
    const float* in = x + r * dim;
    float* out = y + r * dim;
    const float mean = detail::sum(in, dim) / static_cast<float>(dim);
    const float inverse = 1.0f / std::sqrt(detail::squared_deviation(in, dim, mean) /
                                               static_cast<float>(dim) + eps);
    for (std::int64_t i = 0; i < dim; ++i)
      out[i] = (in[i] - mean) * inverse * (1.0f + scale[i]) + shift[i];
  }
}

}  // namespace loom::kernels
