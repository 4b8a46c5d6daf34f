#include "actors/link_sender.hpp"

#include <algorithm>

namespace loom {
namespace {

// A quarter of the default capacity: the credit a consumer returns at a time.
constexpr std::size_t typical_batch = 16;

}  // namespace

link_sender::link_sender(std::size_t capacity, full_policy policy, send_fn send, eos_fn send_eos)
    : capacity_(capacity), policy_(policy), send_(std::move(send)),
      send_eos_(std::move(send_eos)), credit_(capacity) {}

void link_sender::offer(link_message message) {
  if (waiting_.empty() && credit_ > 0) return take(std::move(message));
  switch (policy_) {
    case full_policy::block:
      waiting_.push_back(std::move(message));
      break;
    case full_policy::drop_newest:
      ++dropped_;
      break;
    case full_policy::drop_oldest:
      if (waiting_.size() >= capacity_) {
        waiting_.pop_front();
        ++dropped_;
      }
      waiting_.push_back(std::move(message));
      break;
  }
}

void link_sender::grant(std::size_t n) {
  credit_ += n;
  while (!waiting_.empty() && credit_ > 0) {
    take(std::move(waiting_.front()));
    waiting_.pop_front();
  }
}

void link_sender::take(link_message message) {
  // Room for what the credit allows, up to a typical round, so a batch grows without copies.
  if (batch_.empty()) batch_.reserve(std::min<std::size_t>(credit_, typical_batch));
  --credit_;
  ++sent_;
  batch_.push_back(std::move(message));
}

void link_sender::close() {
  closed_ = true;
  flush();
}

void link_sender::flush() {
  if (!batch_.empty()) {
    send_(std::move(batch_));
    batch_ = batch();
  }
  if (closed_ && !eos_sent_ && waiting_.empty()) {
    eos_sent_ = true;
    send_eos_();
  }
}

}  // namespace loom
