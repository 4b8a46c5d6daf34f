// Graphs run on threads of the test process, for tests of stages that talk across processes
// (zmq_source/zmq_sink, shm_source/shm_sink): one graph sends, another receives, each a
// `graph_thread`; `record_sink` keeps what arrives, by the name in its `into` parameter.
#pragma once

#include <boost/test/unit_test.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "actors/runtime.hpp"
#include "graphs/load.hpp"
#include "stages/registry.hpp"

namespace loom::test {

inline std::mutex recorded_mutex;
inline std::map<std::string, std::vector<packet_ptr>> recorded;

inline std::vector<packet_ptr> recording(const std::string& into) {
  std::lock_guard lock(recorded_mutex);
  return recorded[into];
}

class record_sink final : public stage {
 public:
  void process(stage_context& ctx) override {
    std::lock_guard lock(recorded_mutex);
    recorded[ctx.params().string("into")].push_back(ctx.input_ptr("in"));
  }
};

// The built-in stages and record_sink.
inline stage_registry& registry() {
  static stage_registry r = [] {
    auto made = stage_registry::with_builtins();
    stage_spec spec;
    spec.type = "record_sink";
    spec.summary = "keeps packets for the test";
    spec.inputs = {{"in", "any", {}}};
    spec.params = {string_param("into", std::nullopt, "recording name")};
    spec.make = [] { return std::make_unique<record_sink>(); };
    made.add(spec, "test");
    return made;
  }();
  return r;
}

struct graph_run {
  run_result result;
  std::vector<std::string> log;
  double seconds = 0;
};

class graph_thread {
 public:
  // `stops`, when given, is the run's stop counter (2 abandons it).
  explicit graph_thread(const std::string& toml, std::atomic<int>* stops = nullptr)
      : stops_(stops != nullptr ? stops : &own_stops_) {
    auto loaded = load_graph_text(toml, "test.toml", {}, registry());
    if (!loaded.graph) {
      std::string errors;
      for (const auto& d : loaded.errors) errors += format(d) + "\n";
      BOOST_FAIL("graph did not load:\n" << errors << toml);
    }
    graph_ = std::make_unique<graph_def>(std::move(*loaded.graph));
    future_ = std::async(std::launch::async, [this] {
      graph_run out;
      auto log = std::make_shared<std::mutex>();
      run_options options;
      options.stop_requests = stops_;
      options.log = [&out, log](const std::string& line) {
        std::lock_guard lock(*log);
        out.log.push_back(line);
      };
      const auto began = std::chrono::steady_clock::now();
      out.result = run_graph(*graph_, options);
      out.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - began).count();
      return out;
    });
  }

  graph_run wait(std::chrono::seconds limit = std::chrono::seconds(15)) {
    BOOST_REQUIRE_MESSAGE(future_.wait_for(limit) == std::future_status::ready,
                          "the graph did not finish within " << limit.count() << " s");
    return future_.get();
  }

  // A test that failed before waiting must not hang in the future's destructor: the run is
  // abandoned instead.
  ~graph_thread() {
    if (future_.valid()) *stops_ = 2;
  }

 private:
  std::atomic<int> own_stops_{0};
  std::atomic<int>* stops_;
  std::unique_ptr<graph_def> graph_;
  std::future<graph_run> future_;
};

// The run's failures and log, for messages.
inline std::string failures(const graph_run& r) {
  std::string out;
  for (const auto& f : r.result.failures) out += f + "\n";
  for (const auto& l : r.log) out += "log: " + l + "\n";
  return out;
}

inline std::uint64_t counter(const graph_run& r, const std::string& stage, const std::string& name) {
  const auto& counters = r.result.stats.stages.at(stage).counters;
  auto it = counters.find(name);
  BOOST_REQUIRE_MESSAGE(it != counters.end(), "stage " << stage << " has no counter " << name);
  return it->second.at(0);
}

// The byte pattern synthetic_source writes: each byte is the low byte of its offset.
inline bool has_synthetic_pattern(const tensor& t) {
  const auto* bytes = t.raw();
  for (std::size_t i = 0; i < t.nbytes(); ++i)
    if (bytes[i] != static_cast<std::byte>(i & 0xff)) return false;
  return true;
}

}  // namespace loom::test
