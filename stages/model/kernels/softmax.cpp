// Row softmax in place (see softmax.hpp): a maximum pass, then exp and sum in one pass, then
// (unless the caller defers it) the 1/sum scale. Built for AVX-512 as well as AVX2: the exp is
// the bulk of an attention layer's work outside its matrix products.
#include "stages/model/kernels/softmax.hpp"

#include "stages/model/kernels/vector_math.hpp"

namespace loom::kernels {

[[gnu::target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")]]
void softmax_rows(float* x, std::int64_t rows, std::int64_t cols, std::int64_t ld) {
  for (std::int64_t r = 0; r < rows; ++r) {
    float* row = x + r * ld;
    const float inverse = 1.0f / detail::exp_and_sum(row, cols, detail::maximum(row, cols));
    for (std::int64_t i = 0; i < cols; ++i) row[i] *= inverse;
  }
}

[[gnu::target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")]]
void softmax_rows_unscaled(float* x, std::int64_t rows, std::int64_t cols, std::int64_t ld,
                           float* inverse_sums) {
  for (std::int64_t r = 0; r < rows; ++r) {
    float* row = x + r * ld;
    inverse_sums[r] = 1.0f / detail::exp_and_sum(row, cols, detail::maximum(row, cols));
  }
}

}  // namespace loom::kernels
