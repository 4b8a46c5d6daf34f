#include "connectors/running_part.hpp"

#include <utility>

namespace loom {

running_part::running_part(graph_def part, std::function<void(const std::string&)> log)
    : part_(std::move(part)) {
  run_options options;
  options.stop_requests = &stops_;
  options.log = std::move(log);
  options.before_start = [this] {
    std::unique_lock lock(mutex_);
    ready_ = true;
    decided_.wait(lock, [this] { return decision_ != decision::pending; });
    return decision_ == decision::go;
  };
  thread_ = std::thread([this, options] {
    auto result = run_graph(part_, options);
    std::lock_guard lock(mutex_);
    result_ = std::move(result);
  });
}

running_part::~running_part() {
  abort();
  thread_.join();
}

bool running_part::ready() {
  std::lock_guard lock(mutex_);
  return ready_;
}

void running_part::start() { decide(decision::go); }

void running_part::stop(bool abort_now) {
  decide(decision::cancel);
  if (abort_now) {
    stops_.store(2);
  } else {
    stops_.fetch_add(1);
  }
}

std::optional<run_result> running_part::take_result() {
  std::lock_guard lock(mutex_);
  return std::exchange(result_, std::nullopt);
}

void running_part::decide(decision d) {
  std::lock_guard lock(mutex_);
  if (decision_ == decision::pending) decision_ = d;
  decided_.notify_all();
}

}  // namespace loom
