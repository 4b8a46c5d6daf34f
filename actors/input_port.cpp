#include "actors/input_port.hpp"

#include <algorithm>

namespace loom {

input_port::input_port(std::size_t lanes, std::size_t capacity, credit_fn return_credit)
    : lanes_(lanes), credit_batch_(std::max<std::size_t>(1, capacity / 4)),
      return_credit_(std::move(return_credit)) {}

void input_port::push(std::size_t lane, link_message message) {
  lanes_[lane].queue.push_back(std::move(message));
}

void input_port::end(std::size_t lane) { lanes_[lane].ended = true; }

const link_message* input_port::peek() {
  if (lanes_.size() == 1) {
    auto& only = lanes_.front();
    return only.queue.empty() ? nullptr : &only.queue.front();
  }
  // Skipping a ticket is only safe once its lane proves it is past it; a bounded walk, since
  // every step advances next_ticket_ past a ticket that produced nothing.
  for (;;) {
    auto& lane = current();
    if (lane.queue.empty()) {
      if (!lane.ended) return nullptr;
      if (exhausted()) return nullptr;
      ++next_ticket_;
      continue;
    }
    if (lane.queue.front().ticket > next_ticket_) {
      ++next_ticket_;
      continue;
    }
    return &lane.queue.front();
  }
}

link_message input_port::pop() {
  auto& lane = lanes_.size() == 1 ? lanes_.front() : current();
  auto message = std::move(lane.queue.front());
  lane.queue.pop_front();
  if (lanes_.size() > 1 && message.last) ++next_ticket_;
  if (++lane.consumed >= credit_batch_) {
    auto index = static_cast<std::size_t>(&lane - lanes_.data());
    return_credit_(index, std::exchange(lane.consumed, 0));
  }
  return message;
}

void input_port::message_ring::push_back(link_message message) {
  if (size_ == slots_.size()) {
    std::vector<link_message> grown(std::max<std::size_t>(16, slots_.size() * 2));
    for (std::size_t i = 0; i < size_; ++i)
      grown[i] = std::move(slots_[(head_ + i) & (slots_.size() - 1)]);
    slots_ = std::move(grown);
    head_ = 0;
  }
  slots_[(head_ + size_) & (slots_.size() - 1)] = std::move(message);
  ++size_;
}

void input_port::message_ring::pop_front() {
  slots_[head_].packet.reset();
  head_ = (head_ + 1) & (slots_.size() - 1);
  --size_;
}

bool input_port::exhausted() const {
  return std::all_of(lanes_.begin(), lanes_.end(),
                     [](const lane_state& l) { return l.ended && l.queue.empty(); });
}

std::size_t input_port::queued() const {
  std::size_t n = 0;
  for (const auto& l : lanes_) n += l.queue.size();
  return n;
}

}  // namespace loom
