// The element-wise kernels of devices/device.hpp on a GPU (cuda_kernels.cu), as plain C++ entry
// points so that cuda_device.cpp stays a C++ file: each launches one kernel on `stream` and
// returns the launch's status. The kernels are built only where CMake found nvcc; elsewhere
// cuda_kernels_unbuilt.cpp stands in, `built()` is false and every entry launches nothing. The
// arguments are as device.hpp describes them, the pointers device memory.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

namespace loom::cuda_kernels {

// Whether this loom was built with the kernels (nvcc found).
bool built();

cudaError_t gather_rows(const float* x, std::int64_t ldx, const std::int32_t* rows,
                        std::int64_t n, std::int64_t d, float* out, cudaStream_t stream);
cudaError_t swiglu_rows(float* h, std::int64_t rows, std::int64_t ff, cudaStream_t stream);
cudaError_t scale_rows(float* y, std::int64_t rows, std::int64_t d, const float* scale,
                       cudaStream_t stream);
cudaError_t add_row_bias(float* y, std::int64_t rows, std::int64_t cols, std::int64_t ldy,
                         const float* bias, cudaStream_t stream);
cudaError_t to_bf16(const float* x, std::int64_t rows, std::int64_t cols, std::int64_t ldx,
                    std::uint16_t* out, cudaStream_t stream);

}  // namespace loom::cuda_kernels
