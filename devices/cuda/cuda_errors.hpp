// Every CUDA runtime and cuBLAS call in this backend goes through these checks, so a failure
// says where it happened (which device or GPU), which call failed and the library's own name and
// text for the error, instead of a bare number surfacing somewhere later.
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include <string_view>

namespace loom {

// Throws std::runtime_error "WHERE: CALL failed: cudaErrorX (text)". Clears the runtime's
// last-error slot first, so a recoverable failure (out of memory) does not linger for the next
// call that asks cudaGetLastError.
[[noreturn]] void throw_cuda_error(cudaError_t status, std::string_view call,
                                   std::string_view where);
[[noreturn]] void throw_cublas_error(cublasStatus_t status, std::string_view call,
                                     std::string_view where);

inline void check_cuda(cudaError_t status, std::string_view call, std::string_view where) {
  if (status != cudaSuccess) [[unlikely]]
    throw_cuda_error(status, call, where);
}

inline void check_cublas(cublasStatus_t status, std::string_view call, std::string_view where) {
  if (status != CUBLAS_STATUS_SUCCESS) [[unlikely]]
    throw_cublas_error(status, call, where);
}

// "cudaErrorX (text)", for messages that report a failure without throwing.
std::string describe_cuda_error(cudaError_t status);

}  // namespace loom
