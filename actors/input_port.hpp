// The receiving end of one input port: one link from a single producer, or one link per
// replica of a replicated producer ("lanes"). Each link holds at most `capacity` messages,
// which is the credit its sender started with; consumed slots go back as credit in batches of
// a quarter of the capacity. Batches never deadlock: a sender out of credit has `capacity`
// messages on their way here, and consuming them returns all of it.
//
// Order across lanes: a dispatcher numbers packets with tickets and sends ticket t to replica
// t % lanes; every replica handles its tickets in increasing order and stamps its outputs with
// the ticket of the input they came from, marking the last output of a ticket `last` (only when
// that input was itself the last of its ticket, as one from a lane may not be). So the next
// packet in source order is always at the head of lane `next_ticket % lanes`: wait for it there,
// and when that lane shows a later ticket (or has ended), ticket `next_ticket` produced nothing
// and is skipped.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "actors/link_sender.hpp"

namespace loom {

class input_port {
 public:
  using credit_fn = std::function<void(std::size_t lane, std::size_t credits)>;

  input_port(std::size_t lanes, std::size_t capacity, credit_fn return_credit);

  void push(std::size_t lane, link_message message);
  void end(std::size_t lane);

  // The next message in order, or null if it has not arrived yet.
  const link_message* peek();
  // Consumes what `peek` returned and hands it over.
  link_message pop();
  // Every lane has ended and nothing is left to read.
  bool exhausted() const;
  std::size_t queued() const;

 private:
  // A first-in first-out ring that keeps its memory: a lane holds at most `capacity` messages,
  // so after the first few rounds it never allocates (a deque allocates and frees a block every
  // few messages).
  class message_ring {
   public:
    bool empty() const { return size_ == 0; }
    std::size_t size() const { return size_; }
    link_message& front() { return slots_[head_]; }
    const link_message& front() const { return slots_[head_]; }
    void push_back(link_message message);
    void pop_front();

   private:
    std::vector<link_message> slots_;  // size a power of two, or zero
    std::size_t head_ = 0, size_ = 0;
  };

  struct lane_state {
    message_ring queue;
    std::size_t consumed = 0;  // credit owed to the sender
    bool ended = false;
  };

  lane_state& current() { return lanes_[next_ticket_ % lanes_.size()]; }

  std::vector<lane_state> lanes_;
  std::size_t credit_batch_;
  credit_fn return_credit_;
  std::uint64_t next_ticket_ = 0;
};

}  // namespace loom
