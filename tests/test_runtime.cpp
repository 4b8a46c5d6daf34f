// The runtime end to end, in-process: ordering, fan-out without copies, fan-in alignment,
// replicas, channel policies, error policies, restarts, stop requests and pinning.
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <array>
#include <condition_variable>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include <fmt/format.h>

#include "devices/cpu_affinity.hpp"
#include "runtime_fixture.hpp"

using namespace loom;
using namespace std::chrono_literals;

namespace {

// What a recording sink saw, shared with the test.
struct recording {
  std::mutex mutex;
  std::vector<std::uint64_t> sequences;
  std::vector<packet_ptr> packets;  // kept alive, so addresses are not reused
  std::vector<const std::byte*> data;
};

class recorder final : public stage {
 public:
  explicit recorder(std::shared_ptr<recording> r) : r_(std::move(r)) {}
  void process(stage_context& ctx) override {
    std::lock_guard lock(r_->mutex);
    r_->sequences.push_back(ctx.input().sequence);
    r_->packets.push_back(ctx.input_ptr());
    r_->data.push_back(ctx.input().at("data").raw());
  }

 private:
  std::shared_ptr<recording> r_;
};

// Sleeps a random time, so replicas finish out of order; drops packets with `drop_every`.
class jitter final : public stage {
 public:
  void open(stage_context& ctx) override {
    rng_.seed(static_cast<unsigned>(ctx.replica() + 1));
    drop_every_ = ctx.params().integer("drop_every");
  }
  void process(stage_context& ctx) override {
    std::this_thread::sleep_for(std::chrono::microseconds(rng_() % 300));
    if (drop_every_ > 0 && ctx.input().sequence % drop_every_ == 0) {
      ctx.count_dropped();
      return;
    }
    ctx.emit("out", ctx.input_ptr());
  }

 private:
  std::mt19937 rng_;
  std::int64_t drop_every_ = 0;
};

// Pairs its two inputs; throws if they were not aligned.
class join final : public stage {
 public:
  void process(stage_context& ctx) override {
    if (ctx.input("a").sequence != ctx.input("b").sequence)
      throw std::logic_error("inputs not aligned");
    ctx.emit("out", ctx.input_ptr("a"));
  }
};

// Forwards whatever arrives on either input, tagging which port it came from.
class merge final : public stage {
 public:
  void process(stage_context& ctx) override {
    auto port = ctx.arrived_port();
    auto p = ctx.input(port).derive();
    p.tensors = ctx.input(port).tensors;
    p.metadata.emplace_back("port", std::string(port));
    ctx.emit("out", std::move(p));
  }
};

// Throws on chosen packets; `fail_first` makes the first N calls of the first instance fail.
class faulty final : public stage {
 public:
  explicit faulty(std::shared_ptr<std::atomic<int>> instances) : instances_(std::move(instances)) {}
  void open(stage_context& ctx) override {
    first_instance_ = ++*instances_ == 1;
    if (ctx.params().boolean("fail_open")) throw std::runtime_error("no weights here");
    fail_every_ = ctx.params().integer("fail_every");
    fail_first_ = ctx.params().integer("fail_first");
  }
  void process(stage_context& ctx) override {
    auto seq = ctx.input().sequence;
    if (first_instance_ && calls_++ < fail_first_) throw std::runtime_error("warming up");
    if (fail_every_ > 0 && seq % fail_every_ == 0) throw std::runtime_error(fmt::format("bad packet {}", seq));
    ctx.emit("out", ctx.input_ptr());
  }

 private:
  std::shared_ptr<std::atomic<int>> instances_;
  std::int64_t fail_every_ = 0, fail_first_ = 0, calls_ = 0;
  bool first_instance_ = false;
};

// A source that blocks in `process` as zmq_source does: its first call emits one packet, its
// second waits (up to 5 s) for the sink to have it, then the stream ends.
struct handoff {
  std::mutex mutex;
  std::condition_variable arrived_cv;
  bool arrived = false;
  bool waited_in_vain = false;
};

class waiting_source final : public stage {
 public:
  explicit waiting_source(std::shared_ptr<handoff> h) : h_(std::move(h)) {}
  void process(stage_context& ctx) override {
    if (!emitted_) {
      packet p;
      p.tensors.push_back({"data", tensor::zeros(dtype::u8, {16})});
      ctx.emit("out", make_shared_packet(std::move(p)));
      emitted_ = true;
      return;
    }
    std::unique_lock lock(h_->mutex);
    h_->waited_in_vain = !h_->arrived_cv.wait_for(lock, 5s, [&] { return h_->arrived; });
    ctx.finish();
  }

 private:
  std::shared_ptr<handoff> h_;
  bool emitted_ = false;
};

class arrival_signal final : public stage {
 public:
  explicit arrival_signal(std::shared_ptr<handoff> h) : h_(std::move(h)) {}
  void process(stage_context&) override {
    std::lock_guard lock(h_->mutex);
    h_->arrived = true;
    h_->arrived_cv.notify_all();
  }

 private:
  std::shared_ptr<handoff> h_;
};

// Whether the buffer of a release_waiting_source's packet was freed, and whether its source
// waited for that in vain.
struct release_note {
  std::mutex mutex;
  std::condition_variable freed_cv;
  bool freed = false;
  bool waited_in_vain = false;
};

// A source whose first call emits one packet over a buffer that says when it is freed, and
// whose second call waits (up to 5 s) for that, then ends the stream.
class release_waiting_source final : public stage {
 public:
  explicit release_waiting_source(std::shared_ptr<release_note> n) : n_(std::move(n)) {}
  void process(stage_context& ctx) override {
    if (!emitted_) {
      auto bytes = std::make_shared<std::array<std::byte, 64>>();
      auto memory = buffer::adopt(bytes->data(), bytes->size(), [n = n_, bytes] {
        std::lock_guard lock(n->mutex);
        n->freed = true;
        n->freed_cv.notify_all();
      });
      packet p;
      p.tensors.push_back({"data", tensor(dtype::u8, {64}, std::move(memory))});
      ctx.emit("out", make_shared_packet(std::move(p)));
      emitted_ = true;
      return;
    }
    std::unique_lock lock(n_->mutex);
    n_->waited_in_vain = !n_->freed_cv.wait_for(lock, 5s, [&] { return n_->freed; });
    ctx.finish();
  }

 private:
  std::shared_ptr<release_note> n_;
  bool emitted_ = false;
};

// Which threads a blocking source and its consumer were called on.
struct call_threads {
  std::mutex mutex;
  std::thread::id source;
  std::vector<std::thread::id> consumer;
};

// A blocking source that emits `count` packets, one per call.
class counting_blocking_source final : public stage {
 public:
  explicit counting_blocking_source(std::shared_ptr<call_threads> t) : t_(std::move(t)) {}
  void process(stage_context& ctx) override {
    {
      std::lock_guard lock(t_->mutex);
      t_->source = std::this_thread::get_id();
    }
    if (emitted_++ == ctx.params().integer("count")) return ctx.finish();
    packet p;
    p.tensors.push_back({"data", tensor::zeros(dtype::u8, {16})});
    ctx.emit("out", make_shared_packet(std::move(p)));
  }

 private:
  std::shared_ptr<call_threads> t_;
  std::int64_t emitted_ = 0;
};

class thread_noting_sink final : public stage {
 public:
  explicit thread_noting_sink(std::shared_ptr<call_threads> t) : t_(std::move(t)) {}
  void process(stage_context&) override {
    std::lock_guard lock(t_->mutex);
    t_->consumer.push_back(std::this_thread::get_id());
  }

 private:
  std::shared_ptr<call_threads> t_;
};

struct fixture {
  stage_registry registry = stage_registry::with_builtins();
  std::shared_ptr<recording> rec = std::make_shared<recording>();
  std::shared_ptr<std::atomic<int>> faulty_instances = std::make_shared<std::atomic<int>>(0);

  fixture() {
    stage_spec r;
    r.type = "recorder";
    r.inputs = {{"in", "", {}}};
    r.make = [rec = rec] { return std::make_unique<recorder>(rec); };
    registry.add(r, "test");

    stage_spec j;
    j.type = "jitter";
    j.inputs = {{"in", "", {}}};
    j.outputs = {{"out", "", {}}};
    j.params = {integer_param("drop_every", 0, "")};
    j.make = [] { return std::make_unique<jitter>(); };
    registry.add(j, "test");

    stage_spec jn;
    jn.type = "join";
    jn.inputs = {{"a", "", {}}, {"b", "", {}}};
    jn.outputs = {{"out", "", {}}};
    jn.make = [] { return std::make_unique<join>(); };
    registry.add(jn, "test");

    stage_spec m;
    m.type = "merge";
    m.inputs = {{"a", "", {}}, {"b", "", {}}};
    m.outputs = {{"out", "", {}}};
    m.inputs_order = input_order::as_they_arrive;
    m.make = [] { return std::make_unique<merge>(); };
    registry.add(m, "test");

    stage_spec f;
    f.type = "faulty";
    f.inputs = {{"in", "", {}}};
    f.outputs = {{"out", "", {}}};
    f.params = {integer_param("fail_every", 0, ""), integer_param("fail_first", 0, ""),
                boolean_param("fail_open", false, "")};
    f.make = [n = faulty_instances] { return std::make_unique<faulty>(n); };
    registry.add(f, "test");
  }

  test::ran run(const std::string& body, const std::atomic<int>* stop = nullptr) {
    return test::run_text("[graph]\nname = \"t\"\nversion = 1\n" + body, registry, stop);
  }
};

std::vector<std::uint64_t> iota(std::uint64_t n) {
  std::vector<std::uint64_t> v(n);
  for (std::uint64_t i = 0; i < n; ++i) v[i] = i;
  return v;
}

}  // namespace

BOOST_FIXTURE_TEST_CASE(a_chain_delivers_everything_in_order, fixture) {
  auto r = run(R"(
[stages.src]
type = "synthetic_source"
count = 5000
[stages.hop]
type = "passthrough"
inputs.in = "src.out"
[stages.sink]
type = "recorder"
inputs.in = { from = "hop.out", capacity = 8 }
)");
  BOOST_TEST((r.result.status == run_result::outcome::completed));
  BOOST_TEST(rec->sequences == iota(5000), boost::test_tools::per_element());
  const auto& s = r.result.stats;
  BOOST_TEST(s.stages.at("src").packets_out == 5000u);
  BOOST_TEST(s.stages.at("hop").packets_in == 5000u);
  BOOST_TEST(s.stages.at("hop").packets_out == 5000u);
  BOOST_TEST(s.sinks.at("sink").packets == 5000u);
  BOOST_TEST(s.sinks.at("sink").bytes == 5000u * 16);
  BOOST_TEST(s.edges.at("hop.out -> sink.in").sent == 5000u);
  BOOST_TEST(s.bytes_copied == 0u);
  BOOST_TEST(s.sinks.at("sink").latency_p99_us >= s.sinks.at("sink").latency_p50_us);
}

// A blocking stage's next call may wait for its peer: what it emitted must not wait with it.
BOOST_FIXTURE_TEST_CASE(a_blocking_source_sends_what_it_emitted_before_its_next_call, fixture) {
  auto h = std::make_shared<handoff>();
  stage_spec source;
  source.type = "waiting_source";
  source.outputs = {{"out", "", {}}};
  source.blocking = true;
  source.make = [h] { return std::make_unique<waiting_source>(h); };
  registry.add(source, "test");
  stage_spec sink;
  sink.type = "arrival_signal";
  sink.inputs = {{"in", "", {}}};
  sink.make = [h] { return std::make_unique<arrival_signal>(h); };
  registry.add(sink, "test");
  auto r = run(R"(
[stages.src]
type = "waiting_source"
[stages.sink]
type = "arrival_signal"
inputs.in = "src.out"
)");
  BOOST_TEST((r.result.status == run_result::outcome::completed));
  BOOST_TEST(h->arrived);
  BOOST_TEST(!h->waited_in_vain);  // the packet reached the sink while its source waited
}

// A consumer lets go of its inputs when its call returns, not when the next call's replace them:
// a received frame goes back to its allocator (or its shared-memory slot to its sender) while
// the stream waits, and a sink does not hold the last large tensor of a burst for as long as
// the next one takes to come.
BOOST_FIXTURE_TEST_CASE(a_consumer_lets_go_of_its_inputs_when_its_call_returns, fixture) {
  auto note = std::make_shared<release_note>();
  stage_spec source;
  source.type = "release_waiting_source";
  source.outputs = {{"out", "", {}}};
  source.blocking = true;
  source.make = [note] { return std::make_unique<release_waiting_source>(note); };
  registry.add(source, "test");
  for (const char* consumer : {"null_sink", "passthrough"}) {
    note->freed = note->waited_in_vain = false;
    auto r = run(fmt::format(R"(
[stages.src]
type = "release_waiting_source"
[stages.consumer]
type = "{}"
inputs.in = "src.out"
{})", consumer, std::string(consumer) == "passthrough"
                     ? "[stages.sink]\ntype = \"null_sink\"\ninputs.in = \"consumer.out\"\n"
                     : ""));
    BOOST_TEST((r.result.status == run_result::outcome::completed), consumer);
    BOOST_TEST(!note->waited_in_vain, consumer);  // freed while its source waited
  }
}

// Its thread mostly waits on a socket: a packet from it is handled there, without a worker's
// wake-up, when its consumer is idle — every packet but those that met the consumer still busy
// with its start on a worker. Two replicas would take turns on one thread: they keep the workers.
BOOST_FIXTURE_TEST_CASE(a_blocking_source_runs_its_only_consumer_on_its_thread, fixture) {
  auto threads = std::make_shared<call_threads>();
  stage_spec source;
  source.type = "counting_blocking_source";
  source.outputs = {{"out", "", {}}};
  source.params = {integer_param("count", 200, "")};
  source.blocking = true;
  source.make = [threads] { return std::make_unique<counting_blocking_source>(threads); };
  registry.add(source, "test");
  stage_spec sink;
  sink.type = "thread_noting_sink";
  sink.inputs = {{"in", "", {}}};
  sink.make = [threads] { return std::make_unique<thread_noting_sink>(threads); };
  registry.add(sink, "test");
  const auto on_source_thread = [&](int replicas) {
    threads->consumer.clear();
    auto r = run(fmt::format(R"(
[stages.src]
type = "counting_blocking_source"
[stages.sink]
type = "thread_noting_sink"
replicas = {}
inputs.in = "src.out"
)", replicas));
    BOOST_TEST((r.result.status == run_result::outcome::completed));
    BOOST_TEST(r.result.stats.sinks.at("sink").packets == 200u);
    BOOST_TEST(threads->consumer.size() == 200u);
    return std::count(threads->consumer.begin(), threads->consumer.end(), threads->source);
  };
  BOOST_TEST(on_source_thread(1) >= 190);
  BOOST_TEST(on_source_thread(2) == 0);
}

BOOST_FIXTURE_TEST_CASE(fan_out_shares_one_packet_between_consumers, fixture) {
  auto r = run(R"(
[stages.src]
type = "synthetic_source"
count = 100
shape = [1024]
[stages.a]
type = "recorder"
inputs.in = "src.out"
[stages.b]
type = "recorder"
inputs.in = "src.out"
)");
  BOOST_TEST((r.result.status == run_result::outcome::completed));
  BOOST_REQUIRE(rec->packets.size() == 200u);
  std::multiset<const packet*> seen;
  for (const auto& p : rec->packets) seen.insert(p.get());
  for (const auto& p : rec->packets) BOOST_TEST(seen.count(p.get()) == 2u);  // one object, twice
  std::set<const std::byte*> buffers(rec->data.begin(), rec->data.end());
  BOOST_TEST(buffers.size() == 1u);  // and one tensor buffer for all of them
}

BOOST_FIXTURE_TEST_CASE(fan_in_aligns_inputs_by_sequence, fixture) {
  auto r = run(R"(
[stages.left]
type = "synthetic_source"
count = 300
[stages.right]
type = "synthetic_source"
count = 300
[stages.thin]
type = "jitter"
drop_every = 3
inputs.in = "right.out"
[stages.join]
type = "join"
inputs.a = "left.out"
inputs.b = "thin.out"
[stages.sink]
type = "recorder"
inputs.in = "join.out"
)");
  BOOST_TEST((r.result.status == run_result::outcome::completed));
  std::vector<std::uint64_t> expected;
  for (std::uint64_t i = 0; i < 300; ++i)
    if (i % 3 != 0) expected.push_back(i);
  BOOST_TEST(rec->sequences == expected, boost::test_tools::per_element());
  BOOST_TEST(r.result.stats.stages.at("join").errors == 0u);
  BOOST_TEST(r.result.stats.stages.at("join").dropped == 100u);  // left's unmatched packets
}

BOOST_FIXTURE_TEST_CASE(inputs_can_be_taken_as_they_arrive, fixture) {
  auto r = run(R"(
[stages.left]
type = "synthetic_source"
count = 200
[stages.right]
type = "synthetic_source"
count = 50
[stages.merge]
type = "merge"
inputs.a = "left.out"
inputs.b = "right.out"
[stages.sink]
type = "recorder"
inputs.in = "merge.out"
)");
  BOOST_TEST((r.result.status == run_result::outcome::completed));
  BOOST_TEST(rec->sequences.size() == 250u);  // nothing paired, nothing discarded
  BOOST_TEST(r.result.stats.stages.at("merge").dropped == 0u);
  BOOST_TEST(r.result.stats.stages.at("merge").packets_in == 250u);
}

BOOST_FIXTURE_TEST_CASE(replicas_run_in_parallel_and_keep_source_order, fixture) {
  auto r = run(R"(
[stages.src]
type = "synthetic_source"
count = 600
[stages.work]
type = "jitter"
replicas = 3
drop_every = 7
inputs.in = "src.out"
[stages.sink]
type = "recorder"
inputs.in = "work.out"
)");
  BOOST_TEST((r.result.status == run_result::outcome::completed));
  std::vector<std::uint64_t> expected;
  for (std::uint64_t i = 0; i < 600; ++i)
    if (i % 7 != 0) expected.push_back(i);
  BOOST_TEST(rec->sequences == expected, boost::test_tools::per_element());
  BOOST_TEST(r.result.stats.stages.at("work").replicas == 3);
  BOOST_TEST(r.result.stats.stages.at("work").dropped == 86u);  // counted by the stage itself
  BOOST_TEST(r.result.stats.stages.at("work").packets_in == 600u);
}

BOOST_FIXTURE_TEST_CASE(replicated_stages_chain_as_lanes, fixture) {
  auto r = run(R"(
[stages.src]
type = "synthetic_source"
count = 400
[stages.one]
type = "jitter"
replicas = 2
inputs.in = "src.out"
[stages.two]
type = "jitter"
replicas = 2
drop_every = 5
inputs.in = "one.out"
[stages.sink]
type = "recorder"
inputs.in = "two.out"
)");
  std::vector<std::uint64_t> expected;
  for (std::uint64_t i = 0; i < 400; ++i)
    if (i % 5 != 0) expected.push_back(i);
  BOOST_TEST(rec->sequences == expected, boost::test_tools::per_element());
}

BOOST_FIXTURE_TEST_CASE(block_loses_nothing_behind_a_slow_sink, fixture) {
  auto r = run(R"(
[stages.src]
type = "synthetic_source"
count = 300
[stages.slow]
type = "null_sink"
delay_us = 200
inputs.in = { from = "src.out", capacity = 4, policy = "block" }
)");
  const auto& s = r.result.stats;
  BOOST_TEST(s.sinks.at("slow").packets == 300u);
  BOOST_TEST(s.stages.at("slow").dropped == 0u);
  BOOST_TEST(s.edges.at("src.out -> slow.in").dropped == 0u);
}

BOOST_FIXTURE_TEST_CASE(drop_policies_count_every_drop, fixture) {
  for (const char* policy : {"drop_oldest", "drop_newest"}) {
    rec->sequences.clear();
    auto r = run(fmt::format(R"(
[stages.src]
type = "synthetic_source"
count = 3000
[stages.slow]
type = "jitter"
inputs.in = {{ from = "src.out", capacity = 4, policy = "{}" }}
[stages.sink]
type = "recorder"
inputs.in = "slow.out"
)",
                             policy));
    const auto& s = r.result.stats;
    auto delivered = s.stages.at("slow").packets_in;
    auto dropped = s.edges.at("src.out -> slow.in").dropped;
    BOOST_TEST_CONTEXT(policy) {
      BOOST_TEST(dropped > 0u);
      BOOST_TEST(delivered + dropped == 3000u);
      BOOST_TEST(s.stages.at("slow").dropped == dropped);
      BOOST_TEST(std::is_sorted(rec->sequences.begin(), rec->sequences.end()));
      BOOST_TEST(rec->sequences.size() == delivered);
    }
  }
}

BOOST_FIXTURE_TEST_CASE(a_throwing_stage_skips_the_packet_and_reports_it, fixture) {
  auto r = run(R"(
[stages.src]
type = "synthetic_source"
count = 100
[stages.f]
type = "faulty"
fail_every = 10
inputs.in = "src.out"
[stages.sink]
type = "recorder"
inputs.in = "f.out"
)");
  BOOST_TEST((r.result.status == run_result::outcome::completed));
  BOOST_TEST(r.result.stats.stages.at("f").errors == 10u);
  BOOST_TEST(r.result.stats.stages.at("f").restarts == 0u);
  BOOST_TEST(rec->sequences.size() == 90u);
  BOOST_REQUIRE(!r.log.empty());
  BOOST_TEST(r.log.front() == "stage 'f' (faulty) on packet 0: bad packet 0");
}

BOOST_FIXTURE_TEST_CASE(on_error_fail_ends_the_run, fixture) {
  auto r = run(R"(
[stages.src]
type = "synthetic_source"
count = 100000
[stages.f]
type = "faulty"
fail_every = 50
on_error = "fail"
inputs.in = "src.out"
[stages.sink]
type = "null_sink"
inputs.in = "f.out"
)");
  BOOST_TEST((r.result.status == run_result::outcome::failed));
  BOOST_REQUIRE(r.result.failures.size() == 1u);
  BOOST_TEST(r.result.failures[0] ==
             "stage 'f' (faulty) failed and on_error = \"fail\": bad packet 0");
  // What the stages had counted when the run stopped is still reported.
  BOOST_TEST(r.result.stats.stages.at("f").errors == 1u);
  BOOST_TEST(r.result.stats.stages.at("src").packets_out >= 1u);
}

BOOST_FIXTURE_TEST_CASE(errors_in_a_row_restart_the_stage, fixture) {
  auto r = run(R"(
[stages.src]
type = "synthetic_source"
count = 50
[stages.f]
type = "faulty"
fail_first = 3
restart = { errors = 3, max = 2, within_s = 60 }
inputs.in = "src.out"
[stages.sink]
type = "recorder"
inputs.in = "f.out"
)");
  BOOST_TEST((r.result.status == run_result::outcome::completed));
  const auto& f = r.result.stats.stages.at("f");
  BOOST_TEST(f.restarts == 1u);
  BOOST_TEST(f.errors == 3u);
  BOOST_TEST(*faulty_instances == 2);  // the fresh instance took over
  BOOST_TEST(rec->sequences.size() == 47u);
}

BOOST_FIXTURE_TEST_CASE(a_crash_loop_fails_the_run, fixture) {
  auto r = run(R"(
[stages.src]
type = "synthetic_source"
count = 1000
[stages.f]
type = "faulty"
fail_every = 1
restart = { errors = 2, max = 2, within_s = 60 }
inputs.in = "src.out"
[stages.sink]
type = "null_sink"
inputs.in = "f.out"
)");
  BOOST_TEST((r.result.status == run_result::outcome::failed));
  BOOST_REQUIRE(r.result.failures.size() == 1u);
  BOOST_TEST(r.result.failures[0] ==
             "stage 'f' (faulty) keeps failing: restarted 2 times within 60 s, giving up; "
             "last error: bad packet 5");
}

BOOST_FIXTURE_TEST_CASE(an_exception_in_open_stops_the_run_before_data_moves, fixture) {
  auto r = run(R"(
[stages.src]
type = "synthetic_source"
count = 10
[stages.f]
type = "faulty"
fail_open = true
inputs.in = "src.out"
[stages.sink]
type = "recorder"
inputs.in = "f.out"
)");
  BOOST_TEST((r.result.status == run_result::outcome::failed));
  BOOST_REQUIRE(r.result.failures.size() == 1u);
  BOOST_TEST(r.result.failures[0] == "stage 'f' (faulty) failed to open: no weights here");
  BOOST_TEST(rec->sequences.empty());
}

BOOST_FIXTURE_TEST_CASE(a_stop_request_ends_sources_and_drains, fixture) {
  std::atomic<int> stop{0};
  std::thread stopper([&] {
    std::this_thread::sleep_for(300ms);
    stop = 1;
  });
  auto r = run(R"(
[stages.src]
type = "synthetic_source"
count = 1000000
rate_hz = 2000
[stages.hop]
type = "jitter"
inputs.in = "src.out"
[stages.sink]
type = "recorder"
inputs.in = "hop.out"
)",
               &stop);
  stopper.join();
  BOOST_TEST((r.result.status == run_result::outcome::interrupted));
  const auto& s = r.result.stats;
  auto produced = s.stages.at("src").packets_out;
  BOOST_TEST(produced > 10u);
  BOOST_TEST(produced < 1000000u);
  BOOST_TEST(s.sinks.at("sink").packets == produced);  // drained: nothing in flight was lost
  BOOST_TEST(rec->sequences == iota(produced), boost::test_tools::per_element());
}

BOOST_FIXTURE_TEST_CASE(a_second_stop_request_aborts_without_draining, fixture) {
  std::atomic<int> stop{0};
  std::thread stopper([&] {
    std::this_thread::sleep_for(200ms);
    stop = 1;
    std::this_thread::sleep_for(100ms);
    stop = 2;
  });
  auto started = std::chrono::steady_clock::now();
  // Draining would take 64 x 0.5 s behind this sink.
  auto r = run(R"(
[stages.src]
type = "synthetic_source"
count = 1000000
[stages.sink]
type = "null_sink"
delay_us = 500000
inputs.in = { from = "src.out", capacity = 64 }
)",
               &stop);
  stopper.join();
  BOOST_TEST((r.result.status == run_result::outcome::interrupted));
  BOOST_TEST(r.result.failures ==
                 std::vector<std::string>{"stopped by a second interrupt before the pipeline drained"},
             boost::test_tools::per_element());
  BOOST_TEST(std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count() < 5.0);
  BOOST_TEST(r.result.stats.stages.at("src").packets_out >= 64u);
}

BOOST_FIXTURE_TEST_CASE(pinned_stages_run_only_on_their_cores, fixture) {
  auto cpus = usable_cpus();
  int core = cpus.back();
  auto r = run(fmt::format(R"(
[devices.fast]
kind = "cpu"
cores = [{}]
[stages.src]
type = "synthetic_source"
count = 2000
[stages.hop]
type = "passthrough"
device = "fast"
work_us = 20
inputs.in = "src.out"
[stages.sink]
type = "null_sink"
inputs.in = "hop.out"
)",
                           core));
  BOOST_TEST((r.result.status == run_result::outcome::completed));
  BOOST_TEST(r.result.stats.stages.at("hop").cpus == std::vector<int>{core});
  BOOST_TEST(r.result.stats.stages.at("hop").device == "fast");
}
