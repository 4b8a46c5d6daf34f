// Page-locked host memory for a cuda device's staging buffers: copies from and to it run at the
// bus's full rate and truly asynchronously, where copies from ordinary (pageable) memory go
// through a driver bounce buffer and hold the calling thread. Pinning memory is slow (a
// synchronizing driver call that maps every page), so released blocks are kept for reuse, up to
// a cap; past the cap they go back to the system.
//
// A staging buffer must not be released while a copy from or to it is still queued: release it
// after `synchronize`, as transfer() does. Its bytes are not cleared between uses.
#pragma once

#include <cstddef>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "devices/buffer.hpp"

namespace loom {

class pinned_pool : public std::enable_shared_from_this<pinned_pool> {
 public:
  // `gpu`: the device whose context pins the memory (the memory is portable: every GPU sees it
  // as pinned). `idle_limit`: the most bytes kept for reuse.
  static std::shared_ptr<pinned_pool> create(std::string device_name, int gpu,
                                             std::size_t idle_limit);
  ~pinned_pool();
  pinned_pool(const pinned_pool&) = delete;
  pinned_pool& operator=(const pinned_pool&) = delete;

  // At least `bytes` of page-locked host memory; throws std::runtime_error naming the call when
  // the system will not pin more.
  buffer allocate(std::size_t bytes);

 private:
  pinned_pool(std::string device_name, int gpu, std::size_t idle_limit);
  void release(std::byte* data, std::size_t capacity) noexcept;

  std::string device_name_;
  int gpu_;
  std::size_t idle_limit_;
  std::mutex mutex_;
  std::multimap<std::size_t, std::byte*> idle_;  // capacity -> block
  std::size_t idle_bytes_ = 0;
};

}  // namespace loom
