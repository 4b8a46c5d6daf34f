// The host element-wise kernels (see host_kernels.hpp). Built with -fno-trapping-math
// (CMakeLists.txt) so that the clamps in fast_exp become vector blends.
#include "devices/cpu/host_kernels.hpp"

#include <algorithm>

#include "devices/cpu/fast_exp.hpp"
#include "devices/float_convert.hpp"

namespace loom::host_kernels {
namespace {

[[gnu::target_clones("arch=x86-64-v3", "default")]]
void swiglu_row(float* gate, const float* up, std::int64_t n) {
  for (std::int64_t i = 0; i < n; ++i) {
    const float g = gate[i];
    gate[i] = g / (1.0f + fast_exp(-g)) * up[i];
  }
}

}  // namespace

void gather_rows(const float* x, std::int64_t ldx, const std::int32_t* rows, std::int64_t n,
                 std::int64_t d, float* out) {
  for (std::int64_t r = 0; r < n; ++r)
    std::copy_n(x + static_cast<std::int64_t>(rows[r]) * ldx, d, out + r * d);
}

void swiglu_rows(float* h, std::int64_t rows, std::int64_t ff) {
  for (std::int64_t r = 0; r < rows; ++r) {
    float* row = h + r * 2 * ff;
    swiglu_row(row, row + ff, ff);
  }
}

[[gnu::target_clones("arch=x86-64-v3", "default")]]
void scale_rows(float* y, std::int64_t rows, std::int64_t d, const float* scale) {
  for (std::int64_t r = 0; r < rows; ++r) {
    float* row = y + r * d;
    const float factor = scale[r];
    for (std::int64_t c = 0; c < d; ++c) row[c] *= factor;
  }
}

[[gnu::target_clones("arch=x86-64-v3", "default")]]
void add_row_bias(float* y, std::int64_t rows, std::int64_t cols, std::int64_t ldy,
                  const float* bias) {
  for (std::int64_t r = 0; r < rows; ++r)
    for (std::int64_t c = 0; c < cols; ++c) y[r * ldy + c] += bias[c];
}

[[gnu::target_clones("arch=x86-64-v3", "default")]]
void to_bf16(const float* x, std::int64_t rows, std::int64_t cols, std::int64_t ldx,
             std::uint16_t* out) {
  for (std::int64_t r = 0; r < rows; ++r)
    for (std::int64_t c = 0; c < cols; ++c) out[r * cols + c] = bf16_from_f32(x[r * ldx + c]);
}

}  // namespace loom::host_kernels
