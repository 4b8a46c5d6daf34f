// Host buffers: small ones from malloc; large ones as sealed memfd segments that another process
// can map (connectors/shm_channel.cpp hands them over by descriptor), recycled through a small
// per-process pool because fresh shared memory is expensive to fault in.
#include "devices/buffer.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <new>
#include <stdexcept>
#include <vector>

#include <fmt/format.h>

namespace loom {
namespace {

constexpr std::size_t own_mapping_from = 256 * 1024;
constexpr std::size_t huge_page = 2 * 1024 * 1024;

std::size_t page_size() {
  static const auto size = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
  return size;
}

// A memfd and its mapping in this process. The memfd is sealed against shrinking, so a process
// that maps it can trust its size: no access inside it can fault with SIGBUS.
struct segment {
  std::byte* base = nullptr;
  std::size_t size = 0;
  int fd = -1;
  std::uint64_t id = 0;
  pid_t owner = 0;  // the process that made it; a forked child shares it and must not recycle it
  std::atomic<bool> recyclable{true};
  std::shared_ptr<const void> life = std::make_shared<const char>();  // see shared_region::alive

  segment(std::byte* base_, std::size_t size_, int fd_, std::uint64_t id_)
      : base(base_), size(size_), fd(fd_), id(id_), owner(getpid()) {}
  segment(const segment&) = delete;
  segment& operator=(const segment&) = delete;
  ~segment() {
    munmap(base, size);
    close(fd);
  }
};

// Nothing when the process cannot make one (no memfd support, out of file descriptors): the
// caller then falls back to a private mapping, which works but is not shareable.
std::unique_ptr<segment> make_segment(std::size_t size) {
  static std::atomic<std::uint64_t> next_id{1};
  const int fd = memfd_create("loom", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (fd < 0) return nullptr;
  if (ftruncate(fd, static_cast<off_t>(size)) != 0 ||
      fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) != 0) {
    close(fd);
    return nullptr;
  }
  void* memory = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (memory == MAP_FAILED) {
    close(fd);
    return nullptr;
  }
  // Effective only where the host lets shared memory have transparent huge pages (shmem_enabled
  // = advise or within_size); then faults cost one per 2 MiB, as for the private mappings.
  if (size >= huge_page) madvise(memory, size, MADV_HUGEPAGE);
  return std::make_unique<segment>(static_cast<std::byte*>(memory), size, fd, next_id++);
}

// Idle segments by exact size, newest last: a pipeline's tensors come in few sizes, and a stream
// of equal frames reuses one segment after another. Segments leave the pool, oldest first, when
// the idle bytes pass the limit.
class segment_pool {
 public:
  std::unique_ptr<segment> take(std::size_t size) {
    std::vector<std::unique_ptr<segment>> inherited;  // unmapped outside the lock
    std::lock_guard lock(mutex_);
    if (pid_ != getpid()) {
      // A forked child: its idle segments are the parent's pages too.
      inherited = std::move(idle_);
      idle_.clear();
      idle_bytes_ = 0;
      pid_ = getpid();
    }
    for (auto it = idle_.rbegin(); it != idle_.rend(); ++it) {
      if ((*it)->size != size) continue;
      auto found = std::move(*it);
      idle_.erase(std::next(it).base());
      idle_bytes_ -= size;
      return found;
    }
    return nullptr;
  }

  void give_back(std::unique_ptr<segment> s) {
    std::vector<std::unique_ptr<segment>> dropped;
    std::lock_guard lock(mutex_);
    if (!s->recyclable || s->owner != getpid() || pid_ != getpid() || s->size > limit_) {
      dropped.push_back(std::move(s));
      return;
    }
    idle_bytes_ += s->size;
    idle_.push_back(std::move(s));
    trim(dropped);
  }

  void limit(std::size_t bytes) {
    std::vector<std::unique_ptr<segment>> dropped;
    std::lock_guard lock(mutex_);
    limit_ = bytes;
    trim(dropped);
  }

  std::size_t idle_bytes() {
    std::lock_guard lock(mutex_);
    return pid_ == getpid() ? idle_bytes_ : 0;
  }

 private:
  void trim(std::vector<std::unique_ptr<segment>>& dropped) {
    std::size_t drop = 0;
    while (idle_bytes_ > limit_) {
      idle_bytes_ -= idle_[drop]->size;
      dropped.push_back(std::move(idle_[drop++]));
    }
    idle_.erase(idle_.begin(), idle_.begin() + static_cast<std::ptrdiff_t>(drop));
  }

  std::mutex mutex_;
  pid_t pid_ = getpid();
  std::vector<std::unique_ptr<segment>> idle_;
  std::size_t idle_bytes_ = 0;
  std::size_t limit_ = 256 * 1024 * 1024;
};

// Never destroyed: buffers may still be released while static objects are torn down.
segment_pool& pool() {
  static auto* instance = new segment_pool;
  return *instance;
}

// The deleter's type marks an owner as a segment, so that `shareable` can find it.
struct segment_deleter {
  void operator()(void* s) const { pool().give_back(std::unique_ptr<segment>(static_cast<segment*>(s))); }
};

}  // namespace

buffer buffer::allocate(std::size_t size) {
  // Large buffers get their own mapping: the kernel zero-fills it, and releasing it returns the
  // memory to the system or to the bounded segment pool. From malloc they would stay in
  // per-thread arenas (glibc raises its mmap threshold after the first large free), so a
  // pipeline's resident memory would grow past what its channels can hold.
  if (size >= own_mapping_from) {
    const std::size_t mapped = (size + page_size() - 1) / page_size() * page_size();
    auto s = pool().take(mapped);
    if (s)
      std::memset(s->base, 0, size);
    else
      s = make_segment(mapped);
    if (s) {
      std::byte* data = s->base;
      std::shared_ptr<void> owner(s.release(), segment_deleter{});
      return buffer(std::move(owner), data, size);
    }
    void* memory = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (memory == MAP_FAILED) throw std::bad_alloc();
    // Huge pages where the kernel gives them on request: faulting in a fresh tensor then costs
    // one fault per 2 MiB instead of one per 4 KiB (about 30 times less on a VM).
    if (size >= huge_page) madvise(memory, size, MADV_HUGEPAGE);
    std::shared_ptr<void> owner(memory, [size](void* p) { munmap(p, size); });
    return buffer(std::move(owner), static_cast<std::byte*>(memory), size);
  }
  constexpr std::size_t alignment = 64;
  std::size_t rounded = (size + alignment - 1) / alignment * alignment;
  void* memory = std::aligned_alloc(alignment, rounded == 0 ? alignment : rounded);
  if (memory == nullptr) throw std::bad_alloc();
  std::memset(memory, 0, size);
  std::shared_ptr<void> owner(memory, [](void* p) { std::free(p); });
  return buffer(std::move(owner), static_cast<std::byte*>(memory), size);
}

buffer buffer::adopt(std::byte* data, std::size_t size, std::function<void()> release) {
  std::shared_ptr<void> owner(data, [release = std::move(release)](void*) {
    if (release) release();
  });
  return buffer(std::move(owner), data, size);
}

buffer buffer::adopt(std::shared_ptr<void> owner, std::byte* data, std::size_t size) {
  return buffer(std::move(owner), data, size);
}

buffer buffer::share(std::size_t offset, std::size_t size) const {
  if (offset > size_ || size > size_ - offset)
    throw std::out_of_range(fmt::format("buffer view [{}, {}) is outside a buffer of {} bytes",
                                        offset, offset + size, size_));
  return buffer(owner_, data_ + offset, size);
}

std::optional<shared_region> buffer::shareable() const {
  if (std::get_deleter<segment_deleter>(owner_) == nullptr) return std::nullopt;
  const auto* s = static_cast<const segment*>(owner_.get());
  return shared_region{s->fd, s->id, s->size, static_cast<std::size_t>(data_ - s->base), s->life};
}

void buffer::withhold_from_pool() const {
  if (std::get_deleter<segment_deleter>(owner_) == nullptr) return;
  static_cast<segment*>(owner_.get())->recyclable = false;
}

void buffer::limit_idle_segments(std::size_t bytes) { pool().limit(bytes); }

std::size_t buffer::idle_segment_bytes() { return pool().idle_bytes(); }

}  // namespace loom
