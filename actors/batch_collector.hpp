// The input sets a batching stage (`batch = { max, timeout_ms }`) has taken off its edges and not
// yet processed. Sets leave their edges as they arrive, so their credit goes back at once and a
// batch may be larger than an edge's capacity; a partial batch is due `timeout_ms` after its
// first set arrived.
#pragma once

#include <chrono>
#include <cstdint>
#include <vector>

#include "actors/input_aligner.hpp"
#include "graphs/graph.hpp"

namespace loom {

class batch_collector {
 public:
  using clock = std::chrono::steady_clock;

  explicit batch_collector(batch_policy policy);

  // Takes over the packets of `set`, whose first packet is for input port `first_port`;
  // `set.packets` is left empty, to be filled again.
  void add(input_set& set, std::size_t first_port);

  std::size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  bool full() const { return size_ >= policy_.max; }
  // When a partial batch is to be called; only while not empty.
  clock::time_point deadline() const { return deadline_; }

  std::uint64_t ticket(std::size_t item) const { return items_[item].ticket; }
  bool last(std::size_t item) const { return items_[item].last; }
  std::size_t first_port(std::size_t item) const { return items_[item].first_port; }
  std::vector<packet_ptr>& packets(std::size_t item) { return items_[item].packets; }

  // Forgets the batch (after its call), keeping the memory for the next.
  void clear();

 private:
  struct item {
    std::uint64_t ticket = 0;
    bool last = true;
    std::size_t first_port = 0;
    std::vector<packet_ptr> packets;
  };

  batch_policy policy_;
  clock::duration timeout_;
  std::vector<item> items_;  // the first size_ are the batch
  std::size_t size_ = 0;
  clock::time_point deadline_;
};

}  // namespace loom
