// What happens after a stage throws: carry on with the next packet, restart the stage (after
// `errors` failures in a row), or fail the run (`on_error = "fail"`, or more than `max`
// restarts within `within_s` seconds — a crash loop, Erlang's restart intensity).
#pragma once

#include <chrono>
#include <deque>

#include "graphs/graph.hpp"

namespace loom {

class failure_policy {
 public:
  using clock = std::chrono::steady_clock;
  enum class action { carry_on, restart, fail };

  failure_policy(error_policy on_error, restart_policy restart)
      : on_error_(on_error), restart_(restart) {}

  action on_failure(clock::time_point now = clock::now());
  void on_success() { in_a_row_ = 0; }
  int restarts() const { return restarts_; }

 private:
  error_policy on_error_;
  restart_policy restart_;
  int in_a_row_ = 0;
  int restarts_ = 0;
  std::deque<clock::time_point> recent_restarts_;
};

}  // namespace loom
