// The emulated accelerator's memory: a fixed capacity reserved as one mapping at open, handed out
// in 64-byte aligned blocks by best fit, freed blocks coalesced with their free neighbours and
// reused. Like a real device's pool it never returns memory to the system while open, so a
// block's pages, once touched, stay touched: a steady pipeline stops page-faulting after its
// first packets, as it would on hardware whose memory is always resident.
#pragma once

#include <cstddef>
#include <map>
#include <mutex>
#include <set>
#include <unordered_map>
#include <utility>

namespace loom::emu {

class emu_pool {
 public:
  static constexpr std::size_t alignment = 64;

  // Reserves `capacity` bytes (rounded down to the alignment); throws std::system_error when the
  // system refuses the mapping.
  explicit emu_pool(std::size_t capacity);
  ~emu_pool();
  emu_pool(const emu_pool&) = delete;
  emu_pool& operator=(const emu_pool&) = delete;

  // A block of `bytes` rounded up to the alignment (at least one alignment unit), or nullptr
  // when no free block is that large. Thread-safe.
  std::byte* allocate(std::size_t bytes);
  // Hands back a block from `allocate`; throws std::invalid_argument for any other pointer
  // (a block freed twice included). Thread-safe.
  void free(std::byte* block);

  std::size_t capacity() const { return capacity_; }
  // Bytes not in any block, exact: the capacity less every live block's rounded size.
  std::size_t free_bytes() const;
  // True when [data, data + bytes) lies inside the pool's memory.
  bool contains(const void* data, std::size_t bytes) const;

 private:
  void insert_free(std::size_t offset, std::size_t size);
  // Removes a free block; the one after it, by offset.
  std::map<std::size_t, std::size_t>::iterator erase_free(
      std::map<std::size_t, std::size_t>::iterator block);

  std::byte* mapping_ = nullptr;
  std::size_t mapping_size_ = 0;
  std::byte* base_ = nullptr;  // the mapping, aligned for huge pages
  std::size_t capacity_ = 0;

  mutable std::mutex mutex_;
  std::map<std::size_t, std::size_t> free_by_offset_;           // offset -> size
  std::set<std::pair<std::size_t, std::size_t>> free_by_size_;  // (size, offset): best fit
  std::unordered_map<std::size_t, std::size_t> used_;           // offset -> size
  std::size_t free_bytes_ = 0;
};

}  // namespace loom::emu
