#include "actors/failure_policy.hpp"

namespace loom {

failure_policy::action failure_policy::on_failure(clock::time_point now) {
  if (on_error_ == error_policy::fail) return action::fail;
  if (++in_a_row_ < restart_.errors) return action::carry_on;
  in_a_row_ = 0;
  auto window = std::chrono::duration_cast<clock::duration>(
      std::chrono::duration<double>(restart_.within_s));
  while (!recent_restarts_.empty() && now - recent_restarts_.front() > window)
    recent_restarts_.pop_front();
  if (static_cast<int>(recent_restarts_.size()) >= restart_.max) return action::fail;
  recent_restarts_.push_back(now);
  ++restarts_;
  return action::restart;
}

}  // namespace loom
