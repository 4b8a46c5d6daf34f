// shm_source and shm_sink end to end: two graphs run in two threads of this process and talk over
// a unix socket file. 1 MiB tensors arrive whole, in order and as views of the sender's memory
// (not copies: the counters say so, and the received buffers are adopted, not allocated); a
// source whose sender never comes ends promptly when the run is interrupted twice, and a second
// source refuses its path while the first listens there; a sink whose receiving run is torn
// down mid-stream fails with a message naming the path.
#include <boost/test/unit_test.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <future>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "actors/runtime.hpp"
#include "graphs/load.hpp"
#include "stages/registry.hpp"

using namespace std::chrono_literals;
using loom::packet_ptr;

namespace {

// ---- a sink that keeps what it receives, by the name given in its `into` parameter ----

std::mutex recorded_mutex;
std::map<std::string, std::vector<packet_ptr>> recorded;

std::vector<packet_ptr> recording(const std::string& into) {
  std::lock_guard lock(recorded_mutex);
  return recorded[into];
}

class record_sink final : public loom::stage {
 public:
  void process(loom::stage_context& ctx) override {
    std::lock_guard lock(recorded_mutex);
    recorded[ctx.params().string("into")].push_back(ctx.input_ptr("in"));
  }
};

loom::stage_registry& registry() {
  static loom::stage_registry r = [] {
    auto made = loom::stage_registry::with_builtins();
    loom::stage_spec spec;
    spec.type = "record_sink";
    spec.summary = "keeps packets for the test";
    spec.inputs = {{"in", "any", {}}};
    spec.params = {loom::string_param("into", std::nullopt, "recording name")};
    spec.make = [] { return std::make_unique<record_sink>(); };
    made.add(spec, "test");
    return made;
  }();
  return r;
}

// ---- running graphs ----

struct run {
  loom::run_result result;
  std::vector<std::string> log;
  double seconds = 0;
};

class graph_thread {
 public:
  explicit graph_thread(const std::string& toml, std::atomic<int>* stops = nullptr)
      : stops_(stops != nullptr ? stops : &own_stops_) {
    auto loaded = loom::load_graph_text(toml, "test.toml", {}, registry());
    if (!loaded.graph) {
      std::string errors;
      for (const auto& d : loaded.errors) errors += format(d) + "\n";
      BOOST_FAIL("graph did not load:\n" << errors << toml);
    }
    graph_ = std::make_unique<loom::graph_def>(std::move(*loaded.graph));
    future_ = std::async(std::launch::async, [this] {
      run out;
      auto log = std::make_shared<std::mutex>();
      loom::run_options options;
      options.stop_requests = stops_;
      options.log = [&out, log](const std::string& line) {
        std::lock_guard lock(*log);
        out.log.push_back(line);
      };
      const auto began = std::chrono::steady_clock::now();
      out.result = loom::run_graph(*graph_, options);
      out.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - began).count();
      return out;
    });
  }

  run wait(std::chrono::seconds limit = 10s) {
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
  std::unique_ptr<loom::graph_def> graph_;
  std::future<run> future_;
};

std::string failures(const run& r) {
  std::string out;
  for (const auto& f : r.result.failures) out += f + "\n";
  for (const auto& l : r.log) out += "log: " + l + "\n";
  return out;
}

bool mentions(const run& r, const std::string& text) {
  return failures(r).find(text) != std::string::npos;
}

std::uint64_t counter(const run& r, const std::string& stage, const std::string& name) {
  const auto& counters = r.result.stats.stages.at(stage).counters;
  auto it = counters.find(name);
  BOOST_REQUIRE_MESSAGE(it != counters.end(), "stage " << stage << " has no counter " << name);
  return it->second.at(0);
}

std::string socket_path() {
  static int count = 0;
  return fmt::format("/tmp/loom-shm-stages-{}-{}.sock", getpid(), count++);
}

bool exists(const std::string& path) {
  struct stat s {};
  return ::lstat(path.c_str(), &s) == 0;
}

// The byte pattern synthetic_source writes: each byte is the low byte of its offset.
bool has_synthetic_pattern(const loom::tensor& t) {
  const auto* bytes = t.raw();
  for (std::size_t i = 0; i < t.nbytes(); ++i)
    if (bytes[i] != static_cast<std::byte>(i & 0xff)) return false;
  return true;
}

std::string sender_graph(const std::string& path, int count, const std::string& shape,
                         double rate_hz = 0) {
  return fmt::format(R"(
[graph]
name = "sender"
version = 1
[stages.src]
type = "synthetic_source"
count = {}
shape = {}
dtype = "u8"
fresh = true
stream_id = 7
rate_hz = {}
[stages.tx]
type = "shm_sink"
path = "{}"
on_error = "fail"
inputs.in = "src.out"
)",
                     count, shape, rate_hz, path);
}

std::string receiver_graph(const std::string& path, const std::string& sink) {
  return fmt::format(R"(
[graph]
name = "receiver"
version = 1
[stages.rx]
type = "shm_source"
path = "{}"
capacity = 8
on_error = "fail"
{}
)",
                     path, sink);
}

}  // namespace

BOOST_AUTO_TEST_CASE(large_tensors_arrive_in_order_shared_not_copied) {
  constexpr int count = 50;
  constexpr std::size_t bytes = 1 << 20;
  const auto path = socket_path();
  // The sender starts first: its shm_sink retries until the source listens.
  graph_thread sender(sender_graph(path, count, "[1048576]"));
  std::this_thread::sleep_for(100ms);
  graph_thread receiver(receiver_graph(path, R"([stages.keep]
type = "record_sink"
into = "round_trip"
inputs.in = "rx.out")"));
  const auto sent = sender.wait();
  const auto received = receiver.wait();
  BOOST_REQUIRE_MESSAGE(sent.result.status == loom::run_result::outcome::completed,
                        failures(sent));
  BOOST_REQUIRE_MESSAGE(received.result.status == loom::run_result::outcome::completed,
                        failures(received));

  const auto got = recording("round_trip");
  BOOST_REQUIRE_EQUAL(got.size(), std::size_t{count});
  for (std::size_t i = 0; i < got.size(); ++i) {
    BOOST_TEST(got[i]->sequence == i);
    BOOST_TEST(got[i]->stream_id == 7u);
    BOOST_REQUIRE_EQUAL(got[i]->tensors.size(), 1u);
    const auto& t = got[i]->tensors[0].value;
    BOOST_TEST(got[i]->tensors[0].name == "data");
    BOOST_TEST(t.nbytes() == bytes);
    BOOST_TEST(has_synthetic_pattern(t));
    // A copy would be a fresh allocation, itself shareable at this size; a view of the
    // sender's segment is adopted memory, which is not.
    BOOST_TEST(!t.memory().shareable().has_value());
  }
  BOOST_TEST(counter(sent, "tx", "packets") == std::uint64_t{count});
  BOOST_TEST(counter(sent, "tx", "shared_bytes") == std::uint64_t{count} * bytes);
  BOOST_TEST(counter(sent, "tx", "copied_bytes") == 0u);
  BOOST_TEST(counter(received, "rx", "packets") == std::uint64_t{count});
  BOOST_TEST(counter(received, "rx", "received_bytes") == std::uint64_t{count} * bytes);
  BOOST_TEST(!exists(path), "the source removes its socket file when it closes");
}

BOOST_AUTO_TEST_CASE(a_source_whose_sender_never_comes_ends_on_a_double_interrupt) {
  const auto path = socket_path();
  std::atomic<int> stops{0};
  graph_thread receiver(receiver_graph(path, R"([stages.drop]
type = "null_sink"
inputs.in = "rx.out")"),
                        &stops);
  for (int i = 0; i < 100 && !exists(path); ++i) std::this_thread::sleep_for(10ms);
  BOOST_REQUIRE(exists(path));

  // A second source on the same path refuses to start rather than steal the first one's sender.
  graph_thread second(receiver_graph(path, R"([stages.drop]
type = "null_sink"
inputs.in = "rx.out")"));
  const auto refused = second.wait();
  BOOST_TEST((refused.result.status == loom::run_result::outcome::failed), failures(refused));
  BOOST_TEST(mentions(refused, "cannot listen on " + path), failures(refused));
  BOOST_TEST(exists(path), "the refused source leaves the first one's socket file alone");

  stops = 2;
  const auto began = std::chrono::steady_clock::now();
  const auto ended = receiver.wait(5s);
  BOOST_TEST(std::chrono::duration<double>(std::chrono::steady_clock::now() - began).count() < 2.0);
  BOOST_TEST((ended.result.status == loom::run_result::outcome::interrupted), failures(ended));
  BOOST_TEST(!exists(path));
}

BOOST_AUTO_TEST_CASE(a_sink_whose_source_dies_mid_stream_fails_naming_the_path) {
  const auto path = socket_path();
  std::atomic<int> stops{0};
  graph_thread receiver(receiver_graph(path, R"([stages.keep]
type = "record_sink"
into = "torn_down"
inputs.in = "rx.out")"),
                        &stops);
  graph_thread sender(sender_graph(path, 100000, "[1024]", 2000));
  for (int i = 0; i < 300 && recording("torn_down").size() < 20; ++i)
    std::this_thread::sleep_for(10ms);
  BOOST_REQUIRE(recording("torn_down").size() >= 20);
  stops = 2;
  receiver.wait(5s);

  const auto sent = sender.wait(5s);
  BOOST_TEST((sent.result.status == loom::run_result::outcome::failed), failures(sent));
  BOOST_TEST(mentions(sent, "shm_sink to " + path), failures(sent));
  BOOST_TEST(counter(sent, "tx", "packets") < 100000u);
}
