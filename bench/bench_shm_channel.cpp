// Shared-memory channel latency: two processes, one tensor per packet of 4 KiB, 64 KiB, 1 MiB,
// 16 MiB and 64 MiB, timed from `send` to the consumer holding the tensor (the producer's filling
// of the tensor is its own work, not the channel's, and is not timed). The peer, measured in the
// same run, is the copying path: the same bytes written through a unix stream socket and read
// into a buffer by the consumer. The target is that the shared path's latency hardly grows with
// the tensor: p50(64 MiB) / p50(4 KiB) ≤ 2. Up to 64 KiB the shared path copies too (inline), as
// designed.
//
// Two ways to produce: "ready" tensors are filled ahead (two buffers, sent in turn, stamped with
// the round in their first and last byte), so the figure is the channel's; "fresh" tensors are
// allocated and filled right before each send, as a stage does. On a VM a fresh 64 MiB fill
// leaves every cache cold and makes the next few syscalls slower, whoever makes them, so "fresh"
// grows with the size although the channel does the same work for every size (one descriptor,
// and the fd and a mapping where the segment is new to the receiver). The target is judged on
// "ready"; "fresh" is printed beside it. The peer sends ready tensors.
//
// A second table measures buffer::allocate itself, since large buffers became memfd segments:
// allocating and filling a buffer, in a loop as a producer does, against a private anonymous
// mapping with transparent huge pages (what allocate did before), and against memfd segments
// without the pool (what a fresh segment costs).
//
// Both sides step in lock-step (the producer sends the next packet only after the consumer has
// dropped the previous one), so a figure is one packet's latency, not a queue's.
//
//   build/bench/bench_shm_channel [--rounds N]
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <new>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "connectors/shm_channel.hpp"

using namespace loom;

namespace {

using clock_type = std::chrono::steady_clock;
constexpr std::size_t kib = 1024;
constexpr std::size_t mib = 1024 * kib;

[[noreturn]] void die(const std::string& why) {
  std::fprintf(stderr, "bench_shm_channel: %s\n", why.c_str());
  std::exit(1);
}

void write_all(int fd, const void* data, std::size_t size) {
  const auto* at = static_cast<const char*>(data);
  while (size > 0) {
    const auto n = ::write(fd, at, size);
    if (n <= 0) die("write failed: " + std::string(std::strerror(errno)));
    at += n;
    size -= static_cast<std::size_t>(n);
  }
}

bool read_all(int fd, void* data, std::size_t size) {
  auto* at = static_cast<char*>(data);
  while (size > 0) {
    const auto n = ::read(fd, at, size);
    if (n <= 0) return false;
    at += n;
    size -= static_cast<std::size_t>(n);
  }
  return true;
}

double percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  const auto at = static_cast<std::size_t>(p * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(at, v.size() - 1)];
}

struct latencies {
  double p50 = 0, p99 = 0;
};

latencies summarize(const std::vector<double>& us) { return {percentile(us, 0.5), percentile(us, 0.99)}; }

// Runs `consumer` in a forked child that reports each packet's latency (ns, int64) on `acks`.
pid_t fork_consumer(const std::function<void()>& consumer) {
  const pid_t pid = ::fork();
  if (pid < 0) die("fork failed");
  if (pid == 0) {
    consumer();
    ::_exit(0);
  }
  return pid;
}

// A buffer's first and last bytes say which round it belongs to: a cheap check that what arrived
// is what was sent, without touching every page of the consumer's view.
void stamp(std::byte* data, std::size_t size, int round) {
  data[0] = data[size - 1] = static_cast<std::byte>(round & 0xff);
}
bool stamped(const std::byte* data, std::size_t size, int round) {
  const auto value = static_cast<std::byte>(round & 0xff);
  return data[0] == value && data[size - 1] == value;
}

// The tensor of one round: fresh (allocated and filled now) or one of two filled ahead.
class producer_memory {
 public:
  producer_memory(std::size_t size, bool fresh) : size_(size), fresh_(fresh) {
    if (fresh) return;
    for (int i = 0; i < 2; ++i) {
      ready_.push_back(buffer::allocate(size));
      std::memset(ready_.back().data(), 0x5a, size);
    }
  }
  buffer next(int round) {
    buffer memory;
    if (fresh_) {
      memory = buffer::allocate(size_);
      std::memset(memory.data(), 0x5a, size_);
    } else {
      memory = ready_[static_cast<std::size_t>(round % 2)];
    }
    stamp(memory.data(), size_, round);
    return memory;
  }

 private:
  std::size_t size_;
  bool fresh_;
  std::vector<buffer> ready_;
};

latencies measure_shm(std::size_t size, int rounds, int warmup, bool fresh) {
  auto [ours, theirs] = shm_socket::pair();
  int acks[2];
  if (::pipe(acks) != 0) die("pipe failed");
  const pid_t child = fork_consumer([&, &theirs = theirs] {
    ::close(acks[0]);
    shm_receiver in(std::move(theirs));
    for (int round = 0;; ++round) {
      auto p = in.receive();
      if (!p) break;
      const std::int64_t latency = steady_now_ns() - p->created_ns;
      if (!stamped(p->at("x").raw(), size, round)) die("the consumer got other bytes");
      p.reset();
      write_all(acks[1], &latency, sizeof latency);
    }
  });
  ::close(acks[1]);
  theirs = shm_socket();

  std::vector<double> us;
  {
    producer_memory memories(size, fresh);
    shm_sender out(std::move(ours));
    for (int round = 0; round < warmup + rounds; ++round) {
      packet p;
      p.set("x", tensor(dtype::u8, {static_cast<std::int64_t>(size)}, memories.next(round)));
      p.created_ns = steady_now_ns();
      out.send(p);
      p = packet();
      std::int64_t latency = 0;
      if (!read_all(acks[0], &latency, sizeof latency)) die("the consumer stopped");
      if (round >= warmup) us.push_back(static_cast<double>(latency) / 1e3);
      // The release is on its way; waiting for it lets the next allocate reuse the segment, as
      // a steady stream does (not timed).
      const auto until = clock_type::now() + std::chrono::seconds(1);
      while (out.stats().held_buffers != 0 && clock_type::now() < until) std::this_thread::yield();
    }
    out.finish();
  }
  ::close(acks[0]);
  ::waitpid(child, nullptr, 0);
  return summarize(us);
}

struct copy_header {
  std::uint64_t size;
  std::int64_t sent_ns;
};

latencies measure_socket_copy(std::size_t size, int rounds, int warmup) {
  int sockets[2], acks[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sockets) != 0 || ::pipe(acks) != 0)
    die("socketpair failed");
  const pid_t child = fork_consumer([&] {
    ::close(sockets[0]);
    ::close(acks[0]);
    for (int round = 0;; ++round) {
      copy_header header{};
      if (!read_all(sockets[1], &header, sizeof header)) break;
      auto memory = buffer::allocate(header.size);
      if (!read_all(sockets[1], memory.data(), header.size)) die("the stream ended in a tensor");
      const std::int64_t latency = steady_now_ns() - header.sent_ns;
      if (!stamped(memory.data(), header.size, round)) die("the consumer got other bytes");
      write_all(acks[1], &latency, sizeof latency);
    }
  });
  ::close(sockets[1]);
  ::close(acks[1]);

  std::vector<double> us;
  producer_memory memories(size, false);
  for (int round = 0; round < warmup + rounds; ++round) {
    const auto memory = memories.next(round);
    const copy_header header{size, steady_now_ns()};
    write_all(sockets[0], &header, sizeof header);
    write_all(sockets[0], memory.data(), size);
    std::int64_t latency = 0;
    if (!read_all(acks[0], &latency, sizeof latency)) die("the consumer stopped");
    if (round >= warmup) us.push_back(static_cast<double>(latency) / 1e3);
  }
  ::close(sockets[0]);
  ::close(acks[0]);
  ::waitpid(child, nullptr, 0);
  return summarize(us);
}

// Median µs of allocating a buffer and filling it once, over `rounds` iterations of a loop that
// frees each buffer before the next (a producer's steady state).
struct allocation_cost {
  double allocate = 0, fill = 0;
};

allocation_cost measure_allocation(int rounds, const std::function<std::pair<std::byte*, std::function<void()>>()>& make,
                                   std::size_t size) {
  std::vector<double> allocate, fill;
  for (int round = 0; round < rounds + 1; ++round) {
    auto start = clock_type::now();
    auto [data, release] = make();
    const double allocated = std::chrono::duration<double, std::micro>(clock_type::now() - start).count();
    start = clock_type::now();
    std::memset(data, round & 0xff, size);
    const double filled = std::chrono::duration<double, std::micro>(clock_type::now() - start).count();
    release();
    if (round == 0) continue;  // the first meets memory no earlier round touched
    allocate.push_back(allocated);
    fill.push_back(filled);
  }
  return {percentile(allocate, 0.5), percentile(fill, 0.5)};
}

std::string size_name(std::size_t size) {
  return size >= mib ? fmt::format("{} MiB", size / mib) : fmt::format("{} KiB", size / kib);
}

}  // namespace

int main(int argc, char** argv) {
  int rounds = 100;
  for (int i = 1; i + 1 < argc; ++i)
    if (std::string(argv[i]) == "--rounds") rounds = std::max(2, std::atoi(argv[i + 1]));
  const int warmup = 5;

  fmt::print("shm channel: one-way latency in µs, send to the consumer holding the tensor "
             "(p50 / p99 of {} packets per size, two processes)\n\n",
             rounds);
  fmt::print("{:>7} | {:>7} | {:>9} {:>9} | {:>9} {:>9} | {:>11} {:>9} | {:>10}\n", "size",
             "path", "ready p50", "p99", "fresh p50", "p99", "socket p50", "p99",
             "shm / copy");
  const std::vector<std::size_t> sizes = {4 * kib, 64 * kib, 1 * mib, 16 * mib, 64 * mib};
  std::vector<latencies> ready, fresh, copy;
  for (auto size : sizes) {
    ready.push_back(measure_shm(size, rounds, warmup, false));
    fresh.push_back(measure_shm(size, rounds, warmup, true));
    copy.push_back(measure_socket_copy(size, rounds, warmup));
    fmt::print("{:>7} | {:>7} | {:>9.1f} {:>9.1f} | {:>9.1f} {:>9.1f} | {:>11.1f} {:>9.1f} | {:>10.3f}\n",
               size_name(size), size <= shm_channel_options{}.inline_tensor_bytes ? "inline" : "shared",
               ready.back().p50, ready.back().p99, fresh.back().p50, fresh.back().p99,
               copy.back().p50, copy.back().p99, ready.back().p50 / copy.back().p50);
  }
  const double ready_ratio = ready.back().p50 / ready.front().p50;
  fmt::print("\nratio p50(64 MiB) / p50(4 KiB): shm {:.2f} (target ≤ 2.00: {}); fresh tensors {:.2f}; "
             "socket copy {:.2f}\n",
             ready_ratio, ready_ratio <= 2.0 ? "met" : "missed",
             fresh.back().p50 / fresh.front().p50, copy.back().p50 / copy.front().p50);
  fmt::print("ratio socket copy / shm at 64 MiB, p50: {:.1f}\n\n", copy.back().p50 / ready.back().p50);

  fmt::print("buffer::allocate then one fill, µs (median of {} rounds; each buffer freed before "
             "the next)\n\n",
             rounds);
  fmt::print("{:>7} | {:>20} | {:>20} | {:>20} | {:>13}\n", "size", "allocate (pooled)",
             "anon mmap+THP before", "memfd, no pool", "pooled/before");
  fmt::print("{:>7} | {:>9} {:>10} | {:>9} {:>10} | {:>9} {:>10} | {:>13}\n", "", "allocate",
             "+fill", "allocate", "+fill", "allocate", "+fill", "(alloc+fill)");
  const int allocation_rounds = std::min(rounds, 20);
  for (std::size_t size : {1 * mib, 4 * mib, 16 * mib, 64 * mib}) {
    auto with_allocate = [size] {
      auto memory = std::make_shared<buffer>(buffer::allocate(size));
      return std::pair<std::byte*, std::function<void()>>(memory->data(),
                                                          [memory]() mutable { *memory = buffer(); });
    };
    auto anonymous = [size] {
      void* memory = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
      if (memory == MAP_FAILED) throw std::bad_alloc();
      if (size >= 2 * mib) ::madvise(memory, size, MADV_HUGEPAGE);
      return std::pair<std::byte*, std::function<void()>>(static_cast<std::byte*>(memory),
                                                          [memory, size] { ::munmap(memory, size); });
    };
    const auto pooled = measure_allocation(allocation_rounds, with_allocate, size);
    const auto before = measure_allocation(allocation_rounds, anonymous, size);
    buffer::limit_idle_segments(0);
    const auto unpooled = measure_allocation(std::min(allocation_rounds, 5), with_allocate, size);
    buffer::limit_idle_segments(256 * mib);
    fmt::print("{:>7} | {:>9.1f} {:>10.1f} | {:>9.1f} {:>10.1f} | {:>9.1f} {:>10.1f} | {:>13.2f}\n",
               size_name(size), pooled.allocate, pooled.fill, before.allocate, before.fill,
               unpooled.allocate, unpooled.fill,
               (pooled.allocate + pooled.fill) / (before.allocate + before.fill));
  }
  fmt::print("\ntarget: pooled/before ≤ 1.00 (allocate is not slower than before)\n");
  return 0;
}
