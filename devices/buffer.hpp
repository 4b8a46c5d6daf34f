// A span of memory with shared ownership. `share` gives a view of part of it without copying;
// the memory is released (or handed back to its pool) when the last view goes away.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <string>

namespace loom {

class buffer {
 public:
  buffer() = default;

  // Fresh host memory, at least 64-byte aligned, zero-filled; from 256 KiB up, its own mapping,
  // returned to the system as soon as the last view is gone.
  static buffer allocate(std::size_t size);

  // Wraps memory owned elsewhere; `release` runs once, when the last view is gone.
  static buffer adopt(std::byte* data, std::size_t size, std::function<void()> release);

  // A view of [offset, offset + size) sharing ownership; throws std::out_of_range past the end.
  buffer share(std::size_t offset, std::size_t size) const;

  std::byte* data() const { return data_; }
  std::size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }

  // How many views (this one included) keep the memory alive.
  long use_count() const { return owner_.use_count(); }

  // True when both views point into the same allocation.
  bool same_memory(const buffer& other) const { return owner_ == other.owner_; }

 private:
  buffer(std::shared_ptr<void> owner, std::byte* data, std::size_t size)
      : owner_(std::move(owner)), data_(data), size_(size) {}

  std::shared_ptr<void> owner_;
  std::byte* data_ = nullptr;
  std::size_t size_ = 0;
};

}  // namespace loom
