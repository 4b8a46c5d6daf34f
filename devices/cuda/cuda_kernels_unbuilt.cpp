// The kernels' entry points where loom was built without nvcc (see cuda_kernels.hpp): nothing to
// launch. cuda_device checks `built()` first and throws, so these only satisfy the linker.
#include "devices/cuda/cuda_kernels.hpp"

namespace loom::cuda_kernels {

bool built() { return false; }

cudaError_t gather_rows(const float*, std::int64_t, const std::int32_t*, std::int64_t,
                        std::int64_t, float*, cudaStream_t) {
  return cudaErrorNotSupported;
}

cudaError_t swiglu_rows(float*, std::int64_t, std::int64_t, cudaStream_t) {
  return cudaErrorNotSupported;
}

cudaError_t scale_rows(float*, std::int64_t, std::int64_t, const float*, cudaStream_t) {
  return cudaErrorNotSupported;
}

cudaError_t add_row_bias(float*, std::int64_t, std::int64_t, std::int64_t, const float*,
                         cudaStream_t) {
  return cudaErrorNotSupported;
}

cudaError_t to_bf16(const float*, std::int64_t, std::int64_t, std::int64_t, std::uint16_t*,
                    cudaStream_t) {
  return cudaErrorNotSupported;
}

}  // namespace loom::cuda_kernels
