#include "devices/cuda/thread_streams.hpp"

#include <string>
#include <vector>

#include <fmt/format.h>

#include "devices/cuda/cublas_library.hpp"
#include "devices/cuda/cuda_errors.hpp"

namespace loom {
namespace {

struct gpu_handles {
  cudaStream_t stream = nullptr;
  cublasHandle_t blas = nullptr;
};

std::string gpu_label(int gpu) { return fmt::format("GPU {} (this thread's stream)", gpu); }

class thread_handles;

// Trivially destructible, so it can still be read while the thread's other thread_locals are
// being destroyed: deleters consult it to learn whether the handles below are still there.
thread_local thread_handles* live_handles = nullptr;

class thread_handles {
 public:
  thread_handles() { live_handles = this; }
  thread_handles(const thread_handles&) = delete;
  thread_handles& operator=(const thread_handles&) = delete;

  // Errors are ignored: at process exit the runtime may already be unloading, and nothing could
  // be done about a handle that fails to go away.
  ~thread_handles() {
    live_handles = nullptr;
    for (std::size_t gpu = 0; gpu < gpus_.size(); ++gpu) {
      auto& handles = gpus_[gpu];
      if (!handles.stream) continue;
      cudaSetDevice(static_cast<int>(gpu));
      if (handles.blas) cublas().destroy(handles.blas);
      cudaStreamDestroy(handles.stream);
    }
    cudaGetLastError();
  }

  gpu_handles& on(int gpu) {
    const auto index = static_cast<std::size_t>(gpu);
    if (index >= gpus_.size()) gpus_.resize(index + 1);
    return gpus_[index];
  }

  const gpu_handles* find(int gpu) const {
    const auto index = static_cast<std::size_t>(gpu);
    return index < gpus_.size() ? &gpus_[index] : nullptr;
  }

 private:
  std::vector<gpu_handles> gpus_;  // indexed by CUDA ordinal
};

thread_handles& handles() {
  thread_local thread_handles owned;
  return owned;
}

gpu_handles& current_handles(int gpu) {
  if (auto status = cudaSetDevice(gpu); status != cudaSuccess)
    throw_cuda_error(status, "cudaSetDevice", gpu_label(gpu));
  auto& handles_on_gpu = handles().on(gpu);
  if (!handles_on_gpu.stream) {
    cudaStream_t stream = nullptr;
    if (auto status = cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking);
        status != cudaSuccess)
      throw_cuda_error(status, "cudaStreamCreateWithFlags", gpu_label(gpu));
    handles_on_gpu.stream = stream;
  }
  return handles_on_gpu;
}

}  // namespace

cudaStream_t thread_stream(int gpu) { return current_handles(gpu).stream; }

cublasHandle_t thread_blas(int gpu) {
  auto& handles_on_gpu = current_handles(gpu);
  if (!handles_on_gpu.blas) {
    cublasHandle_t blas = nullptr;
    if (auto status = cublas().create(&blas); status != CUBLAS_STATUS_SUCCESS)
      throw_cublas_error(status, "cublasCreate", gpu_label(gpu));
    // Exact f32 products: the default math mode keeps TF32 tensor cores out of cublasSgemm.
    const char* failed = nullptr;
    auto status = cublas().set_math_mode(blas, CUBLAS_DEFAULT_MATH);
    if (status != CUBLAS_STATUS_SUCCESS)
      failed = "cublasSetMathMode";
    else if (status = cublas().set_stream(blas, handles_on_gpu.stream);
             status != CUBLAS_STATUS_SUCCESS)
      failed = "cublasSetStream";
    if (failed) {
      cublas().destroy(blas);
      throw_cublas_error(status, failed, gpu_label(gpu));
    }
    handles_on_gpu.blas = blas;
  }
  return handles_on_gpu.blas;
}

cudaStream_t existing_thread_stream(int gpu) noexcept {
  if (!live_handles || gpu < 0) return nullptr;
  const auto* handles_on_gpu = live_handles->find(gpu);
  return handles_on_gpu ? handles_on_gpu->stream : nullptr;
}

}  // namespace loom
