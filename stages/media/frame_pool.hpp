// Recycled frame memory for sources that emit one large tensor per frame. Fresh memory costs a
// page fault per 4 KiB on first touch, which for 720p RGB frames costs more than the colour
// conversion itself; a pool hands the same blocks out again once every view of a frame is gone.
#pragma once

#include <cstddef>
#include <memory>
#include <mutex>
#include <vector>

#include "devices/buffer.hpp"

namespace loom::media {

class frame_pool : public std::enable_shared_from_this<frame_pool> {
 public:
  // Keeps idle blocks up to `max_free_bytes` in all; more are released to the system. Blocks in
  // flight are bounded by the capacity of the edges after the source, so the default keeps what
  // one edge of 64 packets of 720p frames holds.
  static std::shared_ptr<frame_pool> create(std::size_t max_free_bytes = std::size_t{256} << 20);

  // A block of `size` bytes (64-byte aligned, contents unspecified) that comes back to this pool
  // when the last view of it is gone, even after the source that asked for it has closed.
  buffer take(std::size_t size);

 private:
  explicit frame_pool(std::size_t max_free_bytes) : max_free_bytes_(max_free_bytes) {}
  struct block_deleter {
    void operator()(std::byte* p) const;
  };
  using block = std::unique_ptr<std::byte, block_deleter>;
  void give_back(block b, std::size_t size);

  std::mutex mutex_;
  std::size_t max_free_bytes_;
  std::size_t size_ = 0;  // of the idle blocks; a new size empties the pool
  std::vector<block> free_;
};

}  // namespace loom::media
