// Time spent in a stage's own code, for the stats and for cost per output. Reading the clock
// costs about 40 ns on a virtual machine — more than a trivial stage's whole call — so calls
// that were short last time are timed one in 64 and weighted 64; long calls are always timed.
#pragma once

#include <chrono>
#include <cstdint>

namespace loom {

class busy_timer {
 public:
  // Starts timing this call if it is to be timed.
  void begin() {
    timing_ = --countdown_ == 0;
    if (timing_) started_ = std::chrono::steady_clock::now();
  }

  void end() {
    if (!timing_) return;
    auto ns = (std::chrono::steady_clock::now() - started_).count();
    total_ns_ += ns * weight_;
    weight_ = ns >= always_time_above_ns ? 1 : sample_every;
    countdown_ = weight_;
  }

  std::int64_t total_ns() const { return total_ns_; }

 private:
  static constexpr std::int64_t always_time_above_ns = 10'000;
  static constexpr int sample_every = 64;

  std::chrono::steady_clock::time_point started_;
  std::int64_t total_ns_ = 0;
  int countdown_ = 1;
  int weight_ = 1;
  bool timing_ = false;
};

}  // namespace loom
