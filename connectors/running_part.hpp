// One part of a deployment, running on a thread of its own: run_graph on the part's graph, held
// after every stage has opened until the coordinator says start (or calls it off). Used by the
// node daemon for its part and by the coordinator for the stages it runs itself.
#pragma once

#include <atomic>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "actors/runtime.hpp"

namespace loom {

class running_part {
 public:
  // `part` must only refer to stage specs that outlive this object.
  running_part(graph_def part, std::function<void(const std::string&)> log);
  // Aborts the part if it still runs, and waits for its thread.
  ~running_part();
  running_part(const running_part&) = delete;
  running_part& operator=(const running_part&) = delete;

  // Every stage has opened; the part waits for start().
  bool ready();
  void start();
  // Calls the part off if it has not started; else ends it: drained, or at once with `abort_now`.
  void stop(bool abort_now);
  void abort() { stop(true); }
  // The part's result, once, after it has run.
  std::optional<run_result> take_result();

 private:
  enum class decision { pending, go, cancel };
  void decide(decision d);

  graph_def part_;
  std::atomic<int> stops_{0};
  std::mutex mutex_;
  std::condition_variable decided_;
  bool ready_ = false;
  decision decision_ = decision::pending;
  std::optional<run_result> result_;
  std::thread thread_;
};

}  // namespace loom
