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
#include "graph_threads.hpp"

using namespace std::chrono_literals;
using loom::packet_ptr;

namespace {

using namespace loom::test;

bool mentions(const graph_run& r, const std::string& text) {
  return failures(r).find(text) != std::string::npos;
}

std::string socket_path() {
  static int count = 0;
  return fmt::format("/tmp/loom-shm-stages-{}-{}.sock", getpid(), count++);
}

bool exists(const std::string& path) {
  struct stat s {};
  return ::lstat(path.c_str(), &s) == 0;
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
