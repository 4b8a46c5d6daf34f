#include "actors/batch_collector.hpp"

#include <utility>

namespace loom {

batch_collector::batch_collector(batch_policy policy)
    : policy_(policy),
      timeout_(std::chrono::duration_cast<clock::duration>(
          std::chrono::duration<double, std::milli>(policy.timeout_ms))) {}

void batch_collector::add(input_set& set, std::size_t first_port) {
  if (size_ == 0) deadline_ = clock::now() + timeout_;
  if (items_.size() == size_) items_.emplace_back();
  auto& slot = items_[size_++];
  slot.ticket = set.ticket;
  slot.last = set.last;
  slot.first_port = first_port;
  // A swap, not a copy: the set takes the emptied vector of an earlier batch.
  std::swap(slot.packets, set.packets);
  set.packets.clear();
}

void batch_collector::clear() {
  for (std::size_t i = 0; i < size_; ++i) items_[i].packets.clear();
  size_ = 0;
}

}  // namespace loom
