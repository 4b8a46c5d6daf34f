#include "actors/same_thread_delivery.hpp"

namespace loom {

// A woken actor that nobody ran would never handle its messages: any left (its owner did not
// run them before it ended) go to the scheduler, which may run them on any thread.
same_thread_delivery::~same_thread_delivery() {
  for (auto* job : woken_) system().scheduler().enqueue(job);
}

void same_thread_delivery::exec_later(caf::resumable* job) {
  // During deliver(): the receiver, woken by our message, runs here. Otherwise a receiver
  // running here sent something that woke a third actor: that one is the scheduler's.
  if (delivering_)
    woken_.push_back(job);
  else
    system().scheduler().enqueue(job);
}

void same_thread_delivery::run_woken() {
  // As a CAF worker does: the reference taken when the job was woken is ours until it waits
  // again or ends; a job that still has work goes to the scheduler with that reference.
  while (!woken_.empty()) {
    auto* job = woken_.back();
    woken_.pop_back();
    switch (job->resume(this, messages_per_run)) {
      case caf::resumable::resume_later:
        system().scheduler().enqueue(job);
        break;
      case caf::resumable::awaiting_message:
      case caf::resumable::done:
      case caf::resumable::shutdown_execution_unit:
        caf::intrusive_ptr_release(job);
        break;
    }
  }
}

}  // namespace loom
