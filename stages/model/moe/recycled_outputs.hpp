// Output memory that the parts of a `moe` stage reuse from packet to packet. Their outputs are
// megabytes (a shard's routed rows: 4–8 MiB at T = 1024, d_model = 1024), which buffer::allocate
// maps fresh for every packet and unmaps when the last view goes: a page fault per page on first
// touch, and TLB shootdowns on every core running the process when it goes. On the 2-core
// development VM that was about a tenth of a shard's time (bench/bench_moe.cpp). A block is handed
// out again once no packet holds a view of it.
//
//   recycled_outputs outputs_;                                // a member of the stage
//   tensor routed = outputs_.take(ctx.device(), rows, d_model);  // contents unspecified
//
// Used by one stage from one thread at a time, as stages are called.
#pragma once

#include <atomic>
#include <cstdint>
#include <vector>

#include "devices/device.hpp"

namespace loom {

class recycled_outputs {
 public:
  // A dense f32 [rows, cols] tensor on `dev`: in a kept block that nothing else holds, or in
  // fresh memory.
  tensor take(device& dev, std::int64_t rows, std::int64_t cols) {
    const auto bytes = static_cast<std::size_t>(rows * cols) * sizeof(float);
    buffer* free_block = nullptr;
    for (auto& block : blocks_)
      if (block.use_count() == 1) {
        free_block = &block;
        if (block.size() >= bytes) break;
      }
    if (free_block != nullptr && free_block->size() >= bytes) {
      // The view's last holder released it on another thread; see its writes before reusing.
      std::atomic_thread_fence(std::memory_order_acquire);
      return tensor(dtype::f32, {rows, cols}, *free_block, dev.memory_space());
    }
    // Routed rows vary from packet to packet: some room spare, so a block fits the next ones.
    buffer fresh = dev.allocate(bytes + bytes / 8);
    if (free_block != nullptr)
      *free_block = fresh;
    else if (blocks_.size() < max_blocks)
      blocks_.push_back(fresh);
    return tensor(dtype::f32, {rows, cols}, fresh, dev.memory_space());
  }

 private:
  // Enough for the packets an edge of a few slots holds downstream; past it, fresh memory.
  static constexpr std::size_t max_blocks = 8;
  std::vector<buffer> blocks_;
};

}  // namespace loom
