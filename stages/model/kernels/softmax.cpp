// Row softmax in place (see softmax.hpp): max, exp and sum, and scale, each a vectorised pass.
#include "stages/model/kernels/softmax.hpp"

#include "stages/model/kernels/vector_math.hpp"

namespace loom::kernels {

[[gnu::target_clones("arch=x86-64-v3", "default")]]
void softmax_rows(float* x, std::int64_t rows, std::int64_t cols, std::int64_t ld) {
  for (std::int64_t r = 0; r < rows; ++r) {
    float* row = x + r * ld;
    const float top = detail::maximum(row, cols);
    for (std::int64_t i = 0; i < cols; ++i) row[i] = detail::fast_exp(row[i] - top);
    const float inverse = 1.0f / detail::sum(row, cols);
    for (std::int64_t i = 0; i < cols; ++i) row[i] *= inverse;
  }
}

}  // namespace loom::kernels
