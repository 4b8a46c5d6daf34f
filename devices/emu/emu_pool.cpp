// emu's pooled allocator (see emu_pool.hpp): best fit over two indexes of the free blocks, by
// size for the search and by offset for merging neighbours, behind one mutex.
#include "devices/emu/emu_pool.hpp"

#include <sys/mman.h>

#include <cerrno>
#include <cstdint>
#include <stdexcept>
#include <system_error>

#include <fmt/format.h>

namespace loom::emu {
namespace {

// Transparent huge pages cut the cost of first touching a block (one fault per 2 MiB instead of
// per 4 KiB); the pool starts on such a boundary so that all of it can use them.
constexpr std::size_t huge_page = 2 * 1024 * 1024;

std::size_t round_up(std::size_t bytes, std::size_t unit) {
  return (bytes + unit - 1) / unit * unit;
}

}  // namespace

emu_pool::emu_pool(std::size_t capacity) : capacity_(capacity / alignment * alignment) {
  mapping_size_ = capacity_ + huge_page;
  // MAP_NORESERVE: the capacity is a promise to the stages, not memory taken from the system at
  // open; pages are committed as blocks are first written.
  void* mapping = mmap(nullptr, mapping_size_, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (mapping == MAP_FAILED)
    throw std::system_error(errno, std::generic_category(),
                            fmt::format("cannot reserve {} bytes of emulated memory", capacity_));
  mapping_ = static_cast<std::byte*>(mapping);
  base_ = mapping_ + (round_up(reinterpret_cast<std::uintptr_t>(mapping_), huge_page) -
                      reinterpret_cast<std::uintptr_t>(mapping_));
  // Advice only: where the kernel has no huge pages the pool works the same, a little slower.
  madvise(base_, capacity_, MADV_HUGEPAGE);
  if (capacity_ > 0) insert_free(0, capacity_);
  free_bytes_ = capacity_;
}

emu_pool::~emu_pool() { munmap(mapping_, mapping_size_); }

std::byte* emu_pool::allocate(std::size_t bytes) {
  const std::size_t size = round_up(bytes == 0 ? 1 : bytes, alignment);
  if (size < bytes) return nullptr;  // rounding wrapped around: more than any pool holds
  std::lock_guard lock(mutex_);
  auto fit = free_by_size_.lower_bound({size, 0});
  if (fit == free_by_size_.end()) return nullptr;
  const auto [block_size, offset] = *fit;
  erase_free(free_by_offset_.find(offset));
  if (block_size > size) insert_free(offset + size, block_size - size);
  used_.emplace(offset, size);
  free_bytes_ -= size;
  return base_ + offset;
}

void emu_pool::free(std::byte* block) {
  std::lock_guard lock(mutex_);
  auto used = used_.end();
  if (contains(block, 0)) used = used_.find(static_cast<std::size_t>(block - base_));
  if (used == used_.end())
    throw std::invalid_argument(
        fmt::format("{} is not a block of this pool (freed twice, or never allocated here)",
                    static_cast<const void*>(block)));
  std::size_t start = used->first;
  std::size_t size = used->second;
  used_.erase(used);
  free_bytes_ += size;

  // Coalesce with the free blocks either side, so that freed memory serves large requests again.
  auto next = free_by_offset_.lower_bound(start);
  if (next != free_by_offset_.end() && next->first == start + size) {
    size += next->second;
    next = erase_free(next);
  }
  if (next != free_by_offset_.begin()) {
    auto previous = std::prev(next);
    if (previous->first + previous->second == start) {
      start = previous->first;
      size += previous->second;
      erase_free(previous);
    }
  }
  insert_free(start, size);
}

std::size_t emu_pool::free_bytes() const {
  std::lock_guard lock(mutex_);
  return free_bytes_;
}

bool emu_pool::contains(const void* data, std::size_t bytes) const {
  // As integers: comparing pointers into different objects is unspecified in C++.
  const auto begin = reinterpret_cast<std::uintptr_t>(data);
  const auto base = reinterpret_cast<std::uintptr_t>(base_);
  return begin >= base && begin - base <= capacity_ && bytes <= capacity_ - (begin - base);
}

void emu_pool::insert_free(std::size_t offset, std::size_t size) {
  free_by_offset_.emplace(offset, size);
  free_by_size_.emplace(size, offset);
}

std::map<std::size_t, std::size_t>::iterator emu_pool::erase_free(
    std::map<std::size_t, std::size_t>::iterator block) {
  free_by_size_.erase({block->second, block->first});
  return free_by_offset_.erase(block);
}

}  // namespace loom::emu
