#include "devices/cuda/cuda_errors.hpp"

#include <stdexcept>
#include <string>

#include <fmt/format.h>

#include "devices/cuda/cublas_library.hpp"

namespace loom {

std::string describe_cuda_error(cudaError_t status) {
  return fmt::format("{} ({})", cudaGetErrorName(status), cudaGetErrorString(status));
}

void throw_cuda_error(cudaError_t status, std::string_view call, std::string_view where) {
  cudaGetLastError();
  throw std::runtime_error(
      fmt::format("{}: {} failed: {}", where, call, describe_cuda_error(status)));
}

void throw_cublas_error(cublasStatus_t status, std::string_view call, std::string_view where) {
  throw std::runtime_error(fmt::format("{}: {} failed: {} ({})", where, call,
                                       cublas().status_name(status), cublas().status_string(status)));
}

}  // namespace loom
