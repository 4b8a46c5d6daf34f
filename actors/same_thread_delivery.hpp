// Sends messages to actors and runs, on the sending thread, the ones a message woke.
//
// A CAF actor that finds an idle actor's mailbox empty and puts a message in it makes that actor
// runnable; from a thread that is not one of the scheduler's workers (a stage on a thread of its
// own) the scheduler hands it to a worker, which may be asleep: a futex wake and a thread switch
// per message. A stage that waits on a socket (zmq_source, shm_source) and sends each packet as
// it arrives pays that for every packet, on top of the switch from ZeroMQ's I/O thread that it
// cannot avoid. Sent through a same_thread_delivery instead, a message that wakes its receiver
// queues the receiver here, and run_woken() runs it on this thread — as CAF's own workers run an
// actor woken by the actor they are running — while the sender would otherwise be waiting.
//
//   same_thread_delivery delivery(system());
//   delivery.deliver(consumer, ctrl(), data_msg{...});  // consumer idle: queued to run here
//   delivery.run_woken();                               // its handler runs now, on this thread
//
// Only the receivers of deliver() run here. What a receiver sends while it runs here goes to the
// scheduler as usual, so one thread never takes over a pipeline. A receiver that is running (or
// already runnable) when a message comes gets it where it runs; one with more than
// `messages_per_run` messages waiting is handed to the scheduler after that many. Everything is
// called from one thread, the owner's; run_woken() must follow every deliver() before the owner
// waits, or a receiver it woke waits with it.
#pragma once

#include <cstddef>
#include <utility>
#include <vector>

#include <caf/all.hpp>

namespace loom {

class same_thread_delivery final : public caf::execution_unit {
 public:
  static constexpr std::size_t messages_per_run = 64;

  explicit same_thread_delivery(caf::actor_system& system) : caf::execution_unit(&system) {}
  same_thread_delivery(const same_thread_delivery&) = delete;
  same_thread_delivery& operator=(const same_thread_delivery&) = delete;
  ~same_thread_delivery() override;

  template <class Message>
  void deliver(const caf::actor& to, caf::strong_actor_ptr from, Message&& message) {
    if (!to) return;
    delivering_ = true;
    caf::actor_cast<caf::abstract_actor*>(to)->eq_impl(caf::make_message_id(), std::move(from),
                                                       this, std::forward<Message>(message));
    delivering_ = false;
  }

  // Runs every receiver that deliver() woke, until none is left.
  void run_woken();

  // CAF calls this with an actor that a message sent through this unit made runnable.
  void exec_later(caf::resumable* job) override;

 private:
  bool delivering_ = false;
  std::vector<caf::resumable*> woken_;
};

}  // namespace loom
