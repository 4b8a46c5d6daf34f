// A span of memory with shared ownership. `share` gives a view of part of it without copying;
// the memory is released (or handed back to its pool) when the last view goes away.
//
// Large host buffers live in memory another process on the same host can map (a sealed memfd),
// so a shared-memory channel (connectors/shm_channel.hpp) hands them over without a copy:
// `shareable` tells where a view lies in such a segment.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

namespace loom {

// Where a view lies in a segment another process can map.
struct shared_region {
  int fd = -1;                    // the segment's memfd; valid while any view of the buffer lives
  std::uint64_t segment_id = 0;   // unique among this process's segments, never reused
  std::size_t segment_size = 0;   // bytes of the memfd (a whole number of pages)
  std::size_t offset = 0;         // of the view's first byte in the segment
  // Expires when the segment is unmapped in this process (not when it merely goes back to the
  // pool): until then a peer may keep its own mapping of it for the next time it comes.
  std::weak_ptr<const void> alive;
};

class buffer {
 public:
  buffer() = default;

  // Fresh host memory, at least 64-byte aligned, zero-filled. From 256 KiB up it is a segment of
  // its own, shareable with other processes (a memfd mapped MAP_SHARED, so a child forked while
  // it lives shares it rather than copying it on write); when the last view is gone the segment
  // goes back to a small per-process pool, whose idle bytes are bounded (limit_idle_segments),
  // or to the system. Below 256 KiB it comes from malloc and is not shareable.
  static buffer allocate(std::size_t size);

  // Wraps memory owned elsewhere; `release` runs once, when the last view is gone.
  static buffer adopt(std::byte* data, std::size_t size, std::function<void()> release);
  // Wraps memory that `owner` keeps alive: the views share `owner`'s ownership, and the memory
  // goes when the last of them and of `owner`'s other holders is gone. No allocation of its own
  // (an object made with std::make_shared holds its memory and its count in one).
  static buffer adopt(std::shared_ptr<void> owner, std::byte* data, std::size_t size);

  // A view of [offset, offset + size) sharing ownership; throws std::out_of_range past the end.
  buffer share(std::size_t offset, std::size_t size) const;

  std::byte* data() const { return data_; }
  std::size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }

  // How many views (this one included) keep the memory alive.
  long use_count() const { return owner_.use_count(); }

  // True when both views point into the same allocation.
  bool same_memory(const buffer& other) const { return owner_ == other.owner_; }

  // The segment this view lies in, or nothing: small, adopted, or allocated when no memfd could
  // be made (then it is an ordinary private mapping, as before segments existed).
  std::optional<shared_region> shareable() const;

  // Another process may still read this segment although this process lets go of it (a peer
  // that vanished without saying it was done): when the last view is gone, the segment is
  // unmapped instead of being recycled, so its pages are never written again. No effect on
  // buffers that are not shareable.
  void withhold_from_pool() const;

  // Idle segments the pool may keep for reuse, in bytes (default 256 MiB; 0: keep none). A
  // reused segment is already resident, so allocating and filling it costs a memset instead of
  // one page fault per 4 KiB: memfd memory gets no transparent huge pages unless the host's
  // /sys/kernel/mm/transparent_hugepage/shmem_enabled allows them.
  static void limit_idle_segments(std::size_t bytes);
  static std::size_t idle_segment_bytes();

 private:
  buffer(std::shared_ptr<void> owner, std::byte* data, std::size_t size)
      : owner_(std::move(owner)), data_(data), size_(size) {}

  std::shared_ptr<void> owner_;
  std::byte* data_ = nullptr;
  std::size_t size_ = 0;
};

}  // namespace loom
