#include "stages/packet.hpp"

#include <array>
#include <chrono>
#include <mutex>
#include <new>
#include <stdexcept>
#include <utility>
#include <vector>

#include <fmt/format.h>

namespace loom {
namespace packet_memory {
namespace {

// Blocks of 64, 128, 256 and 512 bytes; larger requests go to operator new.
constexpr std::size_t size_classes = 4;
constexpr std::size_t smallest_block = 64;
constexpr std::size_t blocks_per_stack = 64;
// The depot keeps at most this many bytes of free blocks per size; beyond that they are freed.
constexpr std::size_t depot_bytes_per_class = 4 << 20;

constexpr std::size_t block_bytes(std::size_t size_class) { return smallest_block << size_class; }

int size_class_of(std::size_t bytes) {
  for (std::size_t c = 0; c < size_classes; ++c)
    if (bytes <= block_bytes(c)) return static_cast<int>(c);
  return -1;
}

struct free_block {
  free_block* next;
};

struct block_stack {
  free_block* top = nullptr;
  std::size_t count = 0;

  void push(void* block) {
    top = new (block) free_block{top};
    ++count;
  }
  void* pop() {
    auto* block = top;
    top = block->next;
    --count;
    return block;
  }
  void release() {
    while (top != nullptr) ::operator delete(pop());
  }
};

// Full stacks, shared by all threads.
class depot {
 public:
  bool take(std::size_t size_class, block_stack& into) {
    std::lock_guard lock(mutex_);
    auto& full = full_[size_class];
    if (full.empty()) return false;
    into = full.back();
    full.pop_back();
    return true;
  }

  void give(std::size_t size_class, block_stack stack) {
    {
      std::lock_guard lock(mutex_);
      auto& full = full_[size_class];
      if (full.size() * blocks_per_stack * block_bytes(size_class) < depot_bytes_per_class) {
        full.push_back(stack);
        return;
      }
    }
    stack.release();
  }

 private:
  std::mutex mutex_;
  std::array<std::vector<block_stack>, size_classes> full_;
};

// Never destroyed: threads may give their stacks back while the process exits.
depot& shared_depot() {
  static auto* instance = new depot;
  return *instance;
}

// One thread's blocks: per size, a `loaded` stack it allocates from and frees to, and a
// `spare` that is either full or empty (the magazine scheme of Bonwick's slab allocator), so a
// thread that alternates between allocating and freeing around a stack boundary does not
// bounce stacks through the depot.
struct thread_cache {
  struct per_class {
    block_stack loaded, spare;
  };
  std::array<per_class, size_classes> classes;

  ~thread_cache();
};

// Trivially destructible, so still readable while thread_local destructors run: blocks freed
// after this thread's cache is gone go straight back to operator delete.
// Initial-exec: libloom is loaded with the program, and the general model would look the
// variables up through __tls_get_addr on every allocation.
[[gnu::tls_model("initial-exec")]] thread_local bool cache_gone = false;
[[gnu::tls_model("initial-exec")]] thread_local thread_cache cache;

thread_cache::~thread_cache() {
  cache_gone = true;
  for (std::size_t c = 0; c < size_classes; ++c)
    for (auto* stack : {&classes[c].loaded, &classes[c].spare})
      if (stack->count == blocks_per_stack)
        shared_depot().give(c, *stack);
      else
        stack->release();
}

}  // namespace

void* allocate(std::size_t bytes) {
  int c = size_class_of(bytes);
  if (c < 0 || cache_gone) return ::operator new(c < 0 ? bytes : block_bytes(c));
  auto& mine = cache.classes[c];
  if (mine.loaded.count == 0) {
    if (mine.spare.count > 0)
      std::swap(mine.loaded, mine.spare);
    else if (!shared_depot().take(c, mine.loaded))
      return ::operator new(block_bytes(c));
  }
  return mine.loaded.pop();
}

void deallocate(void* block, std::size_t bytes) noexcept {
  int c = size_class_of(bytes);
  if (c < 0 || cache_gone) return ::operator delete(block);
  auto& mine = cache.classes[c];
  if (mine.loaded.count == blocks_per_stack) {
    if (mine.spare.count > 0) shared_depot().give(c, std::exchange(mine.spare, {}));
    std::swap(mine.loaded, mine.spare);
  }
  mine.loaded.push(block);
}

}  // namespace packet_memory

packet_ptr make_shared_packet(packet p) {
  return std::allocate_shared<packet>(packet_allocator<packet>{}, std::move(p));
}


const tensor* packet::find(std::string_view name) const {
  for (const auto& t : tensors)
    if (t.name == name) return &t.value;
  return nullptr;
}

const tensor& packet::at(std::string_view name) const {
  if (auto* t = find(name)) return *t;
  std::string held;
  for (const auto& t : tensors) held += (held.empty() ? "" : ", ") + t.name;
  throw std::out_of_range(fmt::format("packet has no tensor '{}' (it holds: {})", name,
                                      held.empty() ? "none" : held));
}

void packet::set(std::string name, tensor value) {
  for (auto& t : tensors)
    if (t.name == name) {
      t.value = std::move(value);
      return;
    }
  tensors.push_back({std::move(name), std::move(value)});
}

const std::string* packet::meta(std::string_view key) const {
  for (const auto& [k, v] : metadata)
    if (k == key) return &v;
  return nullptr;
}

std::size_t packet::payload_bytes() const {
  std::size_t bytes = 0;
  for (const auto& t : tensors) bytes += t.value.nbytes();
  return bytes;
}

packet packet::derive() const {
  packet p;
  p.stream_id = stream_id;
  p.sequence = sequence;
  p.timestamp_us = timestamp_us;
  p.created_ns = created_ns;
  p.metadata = metadata;
  return p;
}

std::int64_t steady_now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace loom
