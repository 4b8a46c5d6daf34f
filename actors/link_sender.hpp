// The sending end of one link of a channel: credit-based, so nothing is sent without room at
// the receiver. When there is no credit the edge's policy decides: `block` keeps the packet
// and stalls its stage (backpressure), `drop_newest` drops it, `drop_oldest` keeps up to
// `capacity` waiting packets and drops the oldest of them. Every drop is counted.
//
// Packets offered with credit are batched until `flush`: the actor flushes after each round of
// work (and after each call of a blocking stage, whose next call may wait), so a stage that
// produced several packets in one round sends them as one message, and one that produced one
// sends it at once.
//
// Plain C++: the actor hands a `send` function that puts a batch on the wire.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <vector>

#include "graphs/graph.hpp"
#include "stages/packet.hpp"

namespace loom {

struct link_message {
  std::uint64_t ticket = 0;  // order key across replicas (see input_port.hpp)
  bool last = true;          // last packet its producer emitted for this ticket
  packet_ptr packet;
};

class link_sender {
 public:
  // In packet memory: batches are made by one actor and freed by the next, like packets.
  using batch = std::vector<link_message, packet_allocator<link_message>>;
  using send_fn = std::function<void(batch&&)>;
  using eos_fn = std::function<void()>;

  link_sender(std::size_t capacity, full_policy policy, send_fn send, eos_fn send_eos);

  // Takes the packet into the next batch if there is credit, else waits or drops by policy.
  void offer(link_message message);
  // Sends the batch, and end of stream once it is closed and nothing waits.
  void flush();
  // The receiver freed `n` slots: what waited joins the batch, which goes out at the next
  // `flush` — the actor's, at the end of its round, together with what the round adds (sending
  // here would split a round into a batch of one and a batch of the rest).
  void grant(std::size_t n);
  // End of stream, sent after everything still waiting.
  void close();

  // A `block` link with packets waiting: its stage must not produce more until credit comes.
  bool stalled() const { return policy_ == full_policy::block && !waiting_.empty(); }
  // Everything sent, end of stream included.
  bool flushed() const { return eos_sent_; }

  std::uint64_t dropped() const { return dropped_; }
  std::uint64_t sent() const { return sent_; }
  std::size_t credit() const { return credit_; }
  std::size_t waiting() const { return waiting_.size(); }

 private:
  void take(link_message message);

  std::size_t capacity_;
  full_policy policy_;
  send_fn send_;
  eos_fn send_eos_;
  std::size_t credit_;
  batch batch_;
  std::deque<link_message> waiting_;
  std::uint64_t dropped_ = 0;
  std::uint64_t sent_ = 0;
  bool closed_ = false;
  bool eos_sent_ = false;
};

}  // namespace loom
