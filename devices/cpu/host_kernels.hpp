// The element-wise kernels of devices/device.hpp on host memory, on the calling thread: what
// every device whose memory is host memory runs (device.cpp dispatches here). Vectorised loops,
// cloned for AVX2; the SiLU exp is plain arithmetic so that it vectorises too. devices/ cannot
// use stages/model/kernels, so the SwiGLU here is that file's loop, bit for bit.
#pragma once

#include <cstdint>

namespace loom::host_kernels {

void gather_rows(const float* x, std::int64_t ldx, const std::int32_t* rows, std::int64_t n,
                 std::int64_t d, float* out);
void swiglu_rows(float* h, std::int64_t rows, std::int64_t ff);
void scale_rows(float* y, std::int64_t rows, std::int64_t d, const float* scale);
void add_row_bias(float* y, std::int64_t rows, std::int64_t cols, std::int64_t ldy,
                  const float* bias);
void to_bf16(const float* x, std::int64_t rows, std::int64_t cols, std::int64_t ldx,
             std::uint16_t* out);

}  // namespace loom::host_kernels
