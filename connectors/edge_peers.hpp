// What an edge_channel remembers about each peer: who it is, when it was last heard from and
// last sent to, and its credit account — and which connections it refused, so that a refusal is
// logged once per peer. Both are bounded: a hostile crowd of peers cannot grow them without end.
// Internal to connectors/edge_channel.cpp; no ZeroMQ types.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <map>
#include <string>

namespace loom::edge_peers {

using clock = std::chrono::steady_clock;

struct peer {
  std::string name;          // for messages: "tcp://... (node 'gpu1', 10.0.0.2)"
  bool same_host = false;    // equal boot ids: created_ns stays comparable
  clock::time_point heard;   // last frame received from it
  clock::time_point sent;    // last frame sent to it
  clock::time_point packet;  // the receiving side: when its last packet arrived
  // The side that receives data: credits granted in all, packets received, credits owed back
  // (packets that left the queue, not yet granted again).
  std::uint64_t granted = 0;
  std::uint64_t received = 0;
  std::uint64_t owed = 0;
  // The side that sends data: credits the peer granted first (its capacity) and credits left.
  std::uint64_t initial = 0;
  std::uint64_t available = 0;
  std::uint64_t packets_sent = 0;

  // Sender: packets sent and not yet credited back.
  std::uint64_t in_flight() const { return initial > available ? initial - available : 0; }
  // Receiver: packets received and not yet credited back, given the capacity it granted first.
  std::uint64_t held(std::uint64_t capacity) const {
    const std::uint64_t returned = granted > capacity ? granted - capacity : 0;
    return received > returned ? received - returned : 0;
  }
  bool has_credit_for_one() const { return granted > received; }
};

// Connections refused, each with the first reason; the oldest half is forgotten when full.
class refused_set {
 public:
  explicit refused_set(std::size_t limit = 4096) : limit_(limit) {}

  const std::string* find(const std::string& id) const {
    auto it = reasons_.find(id);
    return it == reasons_.end() ? nullptr : &it->second.reason;
  }

  void add(const std::string& id, std::string reason) {
    if (reasons_.size() >= limit_) forget_oldest_half();
    reasons_[id] = {std::move(reason), next_++};
  }

 private:
  struct entry {
    std::string reason;
    std::uint64_t order = 0;
  };

  void forget_oldest_half() {
    const std::uint64_t cut = next_ - reasons_.size() / 2;
    for (auto it = reasons_.begin(); it != reasons_.end();)
      it = it->second.order < cut ? reasons_.erase(it) : std::next(it);
  }

  std::size_t limit_;
  std::uint64_t next_ = 0;
  std::map<std::string, entry> reasons_;
};

}  // namespace loom::edge_peers
