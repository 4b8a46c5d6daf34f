#include "stages/media/frame_pool.hpp"

#include <cstdlib>
#include <new>

namespace loom::media {

std::shared_ptr<frame_pool> frame_pool::create(std::size_t max_free_bytes) {
  return std::shared_ptr<frame_pool>(new frame_pool(max_free_bytes));
}

void frame_pool::block_deleter::operator()(std::byte* p) const { std::free(p); }

buffer frame_pool::take(std::size_t size) {
  block b;
  {
    std::lock_guard lock(mutex_);
    if (size == size_ && !free_.empty()) {
      b = std::move(free_.back());
      free_.pop_back();
    }
  }
  if (!b) {
    void* memory = std::aligned_alloc(64, (size + 63) / 64 * 64);
    if (!memory) throw std::bad_alloc();
    b.reset(static_cast<std::byte*>(memory));
  }
  auto* data = b.get();
  // The release function owns the block until it comes back (std::function needs a copyable
  // callable, hence the shared_ptr around it).
  auto held = std::make_shared<block>(std::move(b));
  return buffer::adopt(data, size, [pool = shared_from_this(), held, size] {
    pool->give_back(std::move(*held), size);
  });
}

void frame_pool::give_back(block b, std::size_t size) {
  std::lock_guard lock(mutex_);
  if (size != size_) {
    free_.clear();
    size_ = size;
  }
  if ((free_.size() + 1) * size <= max_free_bytes_) free_.push_back(std::move(b));
}

}  // namespace loom::media
