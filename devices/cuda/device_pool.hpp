// The device memory of one cuda device: a CUDA memory pool of its own, allocated from and freed
// to in stream order (cudaMallocFromPoolAsync / cudaFreeAsync), with its release threshold set
// so that freed memory stays in the pool for the next allocation instead of going back to the
// driver; and the byte count that enforces the device's `memory` limit.
//
// Why the driver's pool rather than a caching allocator of our own: it already reuses memory in
// stream order (memory freed on one stream goes to an allocation on another once the free is
// ordered before it, with the dependency inserted by the driver), it coalesces free ranges
// instead of splitting them into size classes, and it leaves nothing to keep here beyond the
// count the limit needs.
//
// A buffer's memory goes back to the pool when its last view goes, on whichever thread that is,
// possibly after its device is gone: the deleter holds the pool alive, and frees on the releasing
// thread's own stream on this GPU (so after the work that thread queued on it) or, when that
// thread has none, on the pool's release stream. Work that other threads queued on the memory
// must be complete by then: loom hands tensors between threads only after `synchronize`.
#pragma once

#include <cuda_runtime_api.h>

#include <atomic>
#include <cstddef>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "devices/buffer.hpp"

namespace loom {

class device_pool : public std::enable_shared_from_this<device_pool> {
 public:
  // `limit`: the most bytes its buffers may hold at once.
  static std::shared_ptr<device_pool> create(std::string device_name, int gpu,
                                             std::size_t limit);
  ~device_pool();
  device_pool(const device_pool&) = delete;
  device_pool& operator=(const device_pool&) = delete;

  std::size_t limit() const { return limit_; }
  std::size_t used() const { return used_.load(std::memory_order_relaxed); }
  // What `allocate` can still hand out: below the limit and what the GPU has left (memory free
  // on the card plus what this pool holds unused).
  std::size_t available() const;

  // `bytes` of device memory, usable in `stream` order; throws device_out_of_memory past the
  // limit or when the GPU has no more.
  buffer allocate(std::size_t bytes, cudaStream_t stream);

  // Lets GPU `peer` read and write this pool's memory (pool memory does not follow
  // cudaDeviceEnablePeerAccess). Once per peer.
  void grant_access(int peer);

 private:
  device_pool(std::string device_name, int gpu, std::size_t limit);
  void release(void* data, std::size_t bytes) noexcept;

  std::string device_name_;
  int gpu_;
  std::size_t limit_;
  std::atomic<std::size_t> used_{0};
  cudaMemPool_t pool_ = nullptr;
  cudaStream_t release_stream_ = nullptr;
  std::mutex peers_mutex_;
  std::vector<int> peers_granted_;
};

}  // namespace loom
