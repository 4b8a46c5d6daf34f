#include "devices/emu/emu_host_cache.hpp"

#include <sys/mman.h>

#include <new>

namespace loom::emu {
namespace {

constexpr std::size_t page = 4096;
constexpr std::size_t huge_page = 2 * 1024 * 1024;

void* map(std::size_t size) {
  void* block = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (block == MAP_FAILED) throw std::bad_alloc();
  if (size >= huge_page) madvise(block, size, MADV_HUGEPAGE);
  return block;
}

}  // namespace

emu_host_cache::~emu_host_cache() {
  for (const auto& [size, block] : idle_) munmap(block, size);
  for (const auto& [block, size] : live_) munmap(block, size);
}

void* emu_host_cache::allocate(std::size_t bytes) {
  const std::size_t size = (bytes == 0 ? page : (bytes + page - 1) / page * page);
  {
    std::lock_guard lock(mutex_);
    // A kept block no more than twice the size wanted: reuse without wasting much.
    auto it = idle_.lower_bound(size);
    if (it != idle_.end() && it->first <= 2 * size) {
      void* block = it->second;
      idle_bytes_ -= it->first;
      live_.emplace(block, it->first);
      idle_.erase(it);
      return block;
    }
  }
  void* block = map(size);
  std::lock_guard lock(mutex_);
  live_.emplace(block, size);
  return block;
}

void emu_host_cache::release(void* block) {
  std::unique_lock lock(mutex_);
  auto it = live_.find(block);
  if (it == live_.end()) return;
  const std::size_t size = it->second;
  live_.erase(it);
  if (idle_bytes_ + size <= max_cached_) {
    idle_.emplace(size, block);
    idle_bytes_ += size;
    return;
  }
  lock.unlock();
  munmap(block, size);
}

std::size_t emu_host_cache::cached_bytes() const {
  std::lock_guard lock(mutex_);
  return idle_bytes_;
}

}  // namespace loom::emu
