// A cuda device: one NVIDIA GPU as loom sees it. Its memory comes from a pool of its own that
// enforces the declared `memory` limit (device_pool.hpp); its staging buffers are page-locked
// host memory (pinned_pool.hpp); each thread queues its copies and matrix products on a stream of
// its own (thread_streams.hpp); matrix products are cuBLAS calls. Its element-wise kernels (the
// ones device.hpp lists, for moe shards) are in cuda_kernels.cu, built only where CMake finds
// nvcc; without it the rest still builds from plain C++ and those kernels throw.
//
// Its memory space is "cuda:N" for GPU N. Tensors there hold device pointers that host code must
// not dereference; `transfer` brings them to the host.
#pragma once

#include <cuda_runtime_api.h>

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "devices/device.hpp"

namespace loom {

class device_pool;
class pinned_pool;

class cuda_device final : public device {
 public:
  // `caps.memory_total` is the memory limit; `caps.cores`, when not empty, the CPUs its
  // executors are pinned to.
  cuda_device(std::string name, int gpu, device_caps caps);

  int gpu() const { return gpu_; }

  std::size_t memory_free() const override;
  buffer allocate(std::size_t bytes) override;
  buffer allocate_staging(std::size_t bytes) override;
  void copy_from_host(const std::byte* host, std::byte* to, std::size_t bytes) override;
  void copy_to_host(const std::byte* from, std::byte* host, std::size_t bytes) override;
  void copy_within(const std::byte* from, std::byte* to, std::size_t bytes) override;
  bool copy_from_peer(const device& source, const std::byte* from, std::byte* to,
                      std::size_t bytes) override;
  void synchronize() override;
  std::unique_ptr<device_event> record() override;
  void bind_thread() override;
  void gemm(const gemm_args& args) override;
  void gather_rows(const float* x, std::int64_t ldx, const std::int32_t* rows, std::int64_t n,
                   std::int64_t d, float* out) override;
  void swiglu_rows(float* h, std::int64_t rows, std::int64_t ff) override;
  void scale_rows(float* y, std::int64_t rows, std::int64_t d, const float* scale) override;
  void add_row_bias(float* y, std::int64_t rows, std::int64_t cols, std::int64_t ldy,
                    const float* bias) override;
  void to_bf16(const float* x, std::int64_t rows, std::int64_t cols, std::int64_t ldx,
               std::uint16_t* out) override;

 private:
  // The calling thread's stream on this GPU, with this GPU selected.
  cudaStream_t stream() const;
  // Direct access from this GPU to `peer`'s memory, set up once per peer.
  void enable_peer_access(const cuda_device& peer);
  // Throws for a failed kernel launch, or for any kernel where loom was built without nvcc.
  void check_kernel(cudaError_t status, const char* kernel) const;

  int gpu_;
  std::string where_;  // "device 'NAME' (GPU N)", the head of its error messages
  std::shared_ptr<device_pool> memory_;
  std::shared_ptr<pinned_pool> staging_;
  std::mutex peers_mutex_;
  std::vector<int> peers_enabled_;
};

}  // namespace loom
