#include "devices/cuda/pinned_pool.hpp"

#include <cuda_runtime_api.h>

#include <cstdio>
#include <new>

#include <fmt/format.h>

#include "devices/cuda/cuda_errors.hpp"

namespace loom {
namespace {

// Capacities are whole pages in 64 KiB steps, so buffers for one tensor shape share blocks.
constexpr std::size_t capacity_step = 64 * 1024;

std::size_t capacity_for(std::size_t bytes) {
  return (bytes + capacity_step - 1) / capacity_step * capacity_step;
}

void free_pinned(std::byte* data) {
  if (auto status = cudaFreeHost(data); status != cudaSuccess) {
    cudaGetLastError();
    if (status != cudaErrorCudartUnloading)
      std::fprintf(stderr, "loom: cudaFreeHost failed: %s\n", describe_cuda_error(status).c_str());
  }
}

}  // namespace

std::shared_ptr<pinned_pool> pinned_pool::create(std::string device_name, int gpu,
                                                 std::size_t idle_limit) {
  return std::shared_ptr<pinned_pool>(new pinned_pool(std::move(device_name), gpu, idle_limit));
}

pinned_pool::pinned_pool(std::string device_name, int gpu, std::size_t idle_limit)
    : device_name_(std::move(device_name)), gpu_(gpu), idle_limit_(idle_limit) {}

pinned_pool::~pinned_pool() {
  for (auto& [capacity, data] : idle_) free_pinned(data);
}

buffer pinned_pool::allocate(std::size_t bytes) {
  const std::size_t capacity = capacity_for(bytes == 0 ? 1 : bytes);
  std::byte* data = nullptr;
  std::size_t found = 0;
  {
    // A kept block fits when it is at least as large and at most twice as large.
    std::lock_guard lock(mutex_);
    auto it = idle_.lower_bound(capacity);
    if (it != idle_.end() && it->first <= 2 * capacity) {
      found = it->first;
      data = it->second;
      idle_bytes_ -= found;
      idle_.erase(it);
    }
  }
  if (!data) {
    const auto where = fmt::format("device '{}' (GPU {})", device_name_, gpu_);
    check_cuda(cudaSetDevice(gpu_), "cudaSetDevice", where);
    void* pinned = nullptr;
    check_cuda(cudaHostAlloc(&pinned, capacity, cudaHostAllocPortable),
               fmt::format("cudaHostAlloc({} bytes)", capacity), where);
    data = static_cast<std::byte*>(pinned);
    found = capacity;
  }
  return buffer::adopt(data, bytes, [pool = shared_from_this(), data, found] {
    pool->release(data, found);
  });
}

void pinned_pool::release(std::byte* data, std::size_t capacity) noexcept {
  {
    std::lock_guard lock(mutex_);
    if (idle_bytes_ + capacity <= idle_limit_) {
      try {
        idle_.emplace(capacity, data);
        idle_bytes_ += capacity;
        return;
      } catch (const std::bad_alloc&) {
        // No room to remember the block: it goes back to the system below.
      }
    }
  }
  free_pinned(data);
}

}  // namespace loom
