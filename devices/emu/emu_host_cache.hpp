// The emulated device's page-locked host memory, as an NPU runtime keeps it (aclrtMallocHost,
// cnrtHostMalloc): blocks freed are kept, already faulted in, for the next request of a similar
// size, up to a cap. Transfers out of the device land in these blocks, so a steady stream of
// tensors reuses warm memory instead of faulting in fresh pages for every one.
#pragma once

#include <cstddef>
#include <map>
#include <mutex>

namespace loom::emu {

class emu_host_cache {
 public:
  explicit emu_host_cache(std::size_t max_cached) : max_cached_(max_cached) {}
  ~emu_host_cache();
  emu_host_cache(const emu_host_cache&) = delete;
  emu_host_cache& operator=(const emu_host_cache&) = delete;

  // At least `bytes`, 64-byte aligned (page aligned); throws std::bad_alloc.
  void* allocate(std::size_t bytes);
  // A block from `allocate`: kept for reuse while the cache holds less than its cap.
  void release(void* block);

  std::size_t cached_bytes() const;

 private:
  std::size_t max_cached_;
  mutable std::mutex mutex_;
  std::map<void*, std::size_t> live_;          // handed out: block -> mapped size
  std::multimap<std::size_t, void*> idle_;     // kept: mapped size -> block
  std::size_t idle_bytes_ = 0;
};

}  // namespace loom::emu
