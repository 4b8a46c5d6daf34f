// What flows on an edge: named tensors plus where and when they came from. A packet is
// immutable once emitted (`packet_ptr` points to const), so fan-out shares it between consumers.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "devices/tensor.hpp"

namespace loom {

// Memory for packets and their tensor lists. In a busy graph packets are made on one thread and
// freed on another a million times a second; glibc's per-thread caches serve that pattern badly
// (every free lands in the cache of the thread that does not allocate), so small blocks are
// recycled instead: each thread keeps two stacks of free blocks per size and trades full and
// empty stacks with a shared depot, one lock per stack of blocks.
namespace packet_memory {
void* allocate(std::size_t bytes);
void deallocate(void* block, std::size_t bytes) noexcept;
}  // namespace packet_memory

template <class T>
struct packet_allocator {
  static_assert(alignof(T) <= __STDCPP_DEFAULT_NEW_ALIGNMENT__);
  using value_type = T;
  packet_allocator() = default;
  template <class U>
  packet_allocator(const packet_allocator<U>&) noexcept {}
  T* allocate(std::size_t n) { return static_cast<T*>(packet_memory::allocate(n * sizeof(T))); }
  void deallocate(T* p, std::size_t n) noexcept { packet_memory::deallocate(p, n * sizeof(T)); }
  template <class U>
  bool operator==(const packet_allocator<U>&) const noexcept { return true; }
};

struct named_tensor {
  std::string name;
  tensor value;
};

struct packet {
  std::uint64_t stream_id = 0;
  std::uint64_t sequence = 0;     // position in its stream, assigned by the source
  std::int64_t timestamp_us = 0;  // media time of the content
  std::int64_t created_ns = 0;    // steady-clock time the source made it; latency starts here
  std::vector<named_tensor, packet_allocator<named_tensor>> tensors;
  std::vector<std::pair<std::string, std::string>> metadata;

  // The tensor called `name`; throws std::out_of_range naming what the packet does hold.
  const tensor& at(std::string_view name) const;
  const tensor* find(std::string_view name) const;
  void set(std::string name, tensor value);

  const std::string* meta(std::string_view key) const;

  // Bytes held by all its tensors.
  std::size_t payload_bytes() const;

  // A new packet for the same stream position: identity and times copied, no tensors.
  packet derive() const;
};

using packet_ptr = std::shared_ptr<const packet>;

// `p`, shared, in recycled memory (see packet_memory).
packet_ptr make_shared_packet(packet p);

std::int64_t steady_now_ns();

}  // namespace loom
