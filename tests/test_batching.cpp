// Dynamic batching and per-stage counters: the `batch` key as graph files write it (and every way
// to get it wrong), the stage_context of a batched call, runs whose outputs must equal the
// unbatched run's in order (replicas, several outputs per item, aligned and as-they-arrive
// inputs), timeouts, the drain of a partial batch, failing batches, the `matmul` stage against a
// naive product, and the `batches`, `batch_mean` and `counters` stats.
#include <boost/test/unit_test.hpp>

#include <cmath>
#include <mutex>
#include <numeric>
#include <random>

#include <fmt/format.h>

#include "actors/batch_collector.hpp"
#include "devices/device_registry.hpp"
#include "graphs/plan.hpp"
#include "runtime_fixture.hpp"

using namespace loom;

namespace {

// What a sink saw, shared with the test.
struct recording {
  std::mutex mutex;
  std::vector<std::uint64_t> sequences;
  std::vector<std::string> copies;  // the "copy" metadata of each packet, when it has one
  std::vector<packet_ptr> packets;
};

class recorder final : public stage {
 public:
  explicit recorder(std::shared_ptr<recording> r) : r_(std::move(r)) {}
  void process(stage_context& ctx) override {
    std::lock_guard lock(r_->mutex);
    const auto& in = ctx.input();
    r_->sequences.push_back(in.sequence);
    r_->copies.push_back(in.meta("copy") ? *in.meta("copy") : "");
    r_->packets.push_back(ctx.input_ptr());
  }

 private:
  std::shared_ptr<recording> r_;
};

// The sizes of the batches a probe was called with, over all its instances.
struct batch_log {
  std::mutex mutex;
  std::vector<std::size_t> sizes;
};

// Batches, and forwards `copies` packets per input set, tagged "copy" = 0, 1, ...; emits the
// items of a batch last to first, which the runtime must put back in order. Throws for a batch
// holding the packet with sequence `fail_on`.
class probe final : public stage {
 public:
  explicit probe(std::shared_ptr<batch_log> log) : log_(std::move(log)) {}
  void open(stage_context& ctx) override {
    copies_ = ctx.params().integer("copies");
    fail_on_ = ctx.params().integer("fail_on");
  }
  void process(stage_context& ctx) override {
    note(1);
    forward(ctx, 0);
  }
  void process_batch(stage_context& ctx) override {
    note(ctx.batch_size());
    for (std::size_t item = 0; item < ctx.batch_size(); ++item)
      if (static_cast<std::int64_t>(ctx.input("in", item).sequence) == fail_on_)
        throw std::runtime_error("bad packet in the batch");
    for (std::size_t item = ctx.batch_size(); item-- > 0;) forward(ctx, item);
  }

 private:
  void note(std::size_t size) {
    std::lock_guard lock(log_->mutex);
    log_->sizes.push_back(size);
  }
  void forward(stage_context& ctx, std::size_t item) {
    for (std::int64_t c = 0; c < copies_; ++c) {
      auto p = ctx.input("in", item).derive();
      p.tensors = ctx.input("in", item).tensors;
      p.metadata.emplace_back("copy", std::to_string(c));
      ctx.emit_item(item, "out", std::move(p));
    }
  }

  std::shared_ptr<batch_log> log_;
  std::int64_t copies_ = 1, fail_on_ = -1;
};

// Pairs two inputs by sequence through the default process_batch (one `process` per set).
class pair_up final : public stage {
 public:
  void process(stage_context& ctx) override {
    if (ctx.input("a").sequence != ctx.input("b").sequence)
      throw std::logic_error("inputs not aligned");
    ctx.emit("out", ctx.input_ptr("a"));
  }
};

// Forwards whatever arrives on either port, through the default process_batch.
class either final : public stage {
 public:
  void process(stage_context& ctx) override {
    auto p = ctx.input(ctx.arrived_port()).derive();
    p.metadata.emplace_back("copy", std::string(ctx.arrived_port()));
    ctx.emit("out", std::move(p));
  }
};

// Counts each packet under "residue" at sequence % 5 and adds its sequence to "sum" at 0.
class counting final : public stage {
 public:
  void process(stage_context& ctx) override {
    const auto seq = ctx.input().sequence;
    ctx.count("residue", seq % 5);
    ctx.count("sum", 0, seq);
    ctx.emit("out", ctx.input_ptr());
  }
};

// Emits `count` packets with an f32 "data" tensor of [1 + i % 3, k], values that differ in
// every element and packet; odd packets' rows are padded (not adjacent in memory).
class rows_source final : public stage {
 public:
  void open(stage_context& ctx) override {
    count_ = static_cast<std::uint64_t>(ctx.params().integer("count"));
    k_ = ctx.params().integer("k");
  }
  void process(stage_context& ctx) override {
    if (next_ >= count_) return ctx.finish();
    packet p;
    p.sequence = next_;
    p.created_ns = steady_now_ns();
    auto rows = source_rows(next_, k_);
    p.tensors.push_back({"data", next_ % 2 == 1 ? padded(rows) : rows});
    ++next_;
    ctx.emit("out", make_shared_packet(std::move(p)));
  }

  // The same values with 3 unused elements after each row: rows that are dense but not adjacent.
  static tensor padded(const tensor& dense) {
    const auto rows = dense.shape()[0], k = dense.shape()[1];
    auto wide = tensor::zeros(dtype::f32, {rows, k + 3});
    for (std::int64_t r = 0; r < rows; ++r)
      for (std::int64_t c = 0; c < k; ++c)
        wide.data<float>()[r * (k + 3) + c] = dense.data<float>()[r * k + c];
    return tensor(dtype::f32, {rows, k}, {k + 3, 1}, wide.memory());
  }

  static tensor source_rows(std::uint64_t sequence, std::int64_t k) {
    const std::int64_t rows = 1 + static_cast<std::int64_t>(sequence % 3);
    auto t = tensor::zeros(dtype::f32, {rows, k});
    for (std::int64_t r = 0; r < rows; ++r)
      for (std::int64_t c = 0; c < k; ++c)
        t.data<float>()[r * k + c] =
            std::sin(static_cast<float>(sequence * 31 + static_cast<std::uint64_t>(r * 7 + c)));
    return t;
  }

 private:
  std::uint64_t count_ = 0, next_ = 0;
  std::int64_t k_ = 0;
};

stage_spec spec_of(std::string type, std::vector<port_spec> inputs,
                   std::vector<port_spec> outputs) {
  stage_spec s;
  s.type = std::move(type);
  s.inputs = std::move(inputs);
  s.outputs = std::move(outputs);
  return s;
}

struct fixture {
  stage_registry registry = stage_registry::with_builtins();
  std::shared_ptr<recording> rec = std::make_shared<recording>();
  std::shared_ptr<batch_log> batches = std::make_shared<batch_log>();

  fixture() {
    auto r = spec_of("recorder", {{"in", "", {}}}, {});
    r.make = [rec = rec] { return std::make_unique<recorder>(rec); };
    registry.add(r, "test");

    auto p = spec_of("probe", {{"in", "", {}}}, {{"out", "", {}}});
    p.batches = true;
    p.params = {integer_param("copies", 1, ""), integer_param("fail_on", -1, "")};
    p.make = [log = batches] { return std::make_unique<probe>(log); };
    registry.add(p, "test");

    auto j = spec_of("pair_up", {{"a", "", {}}, {"b", "", {}}}, {{"out", "", {}}});
    j.batches = true;
    j.make = [] { return std::make_unique<pair_up>(); };
    registry.add(j, "test");

    auto e = spec_of("either", {{"a", "", {}}, {"b", "", {}}}, {{"out", "", {}}});
    e.batches = true;
    e.inputs_order = input_order::as_they_arrive;
    e.make = [] { return std::make_unique<either>(); };
    registry.add(e, "test");

    auto c = spec_of("counting", {{"in", "", {}}}, {{"out", "", {}}});
    c.make = [] { return std::make_unique<counting>(); };
    registry.add(c, "test");

    auto s = spec_of("rows_source", {}, {{"out", "", {dtype::f32, 2}}});
    s.params = {integer_param("count", 10, ""), integer_param("k", 4, "")};
    s.make = [] { return std::make_unique<rows_source>(); };
    registry.add(s, "test");
  }

  test::ran run(const std::string& body) {
    return test::run_text("[graph]\nname = \"t\"\nversion = 1\n" + body, registry);
  }

  load_result load(const std::string& body, const std::vector<std::string>& overrides = {}) {
    return load_graph_text("[graph]\nname = \"t\"\nversion = 1\n" + body, "test.toml", overrides,
                           registry);
  }

  std::vector<std::pair<std::uint64_t, std::string>> seen() {
    std::vector<std::pair<std::uint64_t, std::string>> out;
    for (std::size_t i = 0; i < rec->sequences.size(); ++i)
      out.emplace_back(rec->sequences[i], rec->copies[i]);
    return out;
  }

  void forget() {
    rec->sequences.clear();
    rec->copies.clear();
    rec->packets.clear();
    batches->sizes.clear();
  }
};

std::string formatted(const std::vector<diagnostic>& errors) {
  std::string out;
  for (const auto& d : errors) out += format(d) + "\n";
  return out;
}

// Every (sequence, copy) of `count` packets forwarded `copies` times, in order.
std::vector<std::pair<std::uint64_t, std::string>> expected(std::uint64_t count, int copies) {
  std::vector<std::pair<std::uint64_t, std::string>> out;
  for (std::uint64_t s = 0; s < count; ++s)
    for (int c = 0; c < copies; ++c) out.emplace_back(s, std::to_string(c));
  return out;
}

// `graph` with its line "BATCH" replaced by `batch`.
std::string with_batch(std::string graph, const std::string& batch) {
  return graph.replace(graph.find("BATCH"), 5, batch);
}

bool completed(const test::ran& r) { return r.result.status == run_result::outcome::completed; }

// The weights matmul documents for "random:SEED": 24-bit integers scaled into
// [-1/sqrt(k), 1/sqrt(k)], drawn row by row from mt19937_64(SEED).
std::vector<float> matmul_weights(std::uint64_t seed, std::int64_t k, std::int64_t n) {
  std::mt19937_64 generator(seed);
  const float bound = 1.0f / std::sqrt(static_cast<float>(k));
  std::vector<float> w(static_cast<std::size_t>(k * n));
  for (auto& v : w) {
    float unit = static_cast<float>(generator() >> 40) / static_cast<float>(1 << 24);
    v = (2.0f * unit - 1.0f) * bound;
  }
  return w;
}

// Skips a case, saying why, where loom has no cuda backend or the machine no GPU.
boost::test_tools::assertion_result has_gpu(boost::unit_test::test_unit_id) {
  static const auto devices = device_registry::standard();
  const auto* cuda = devices.find("cuda");
  boost::test_tools::assertion_result result(cuda != nullptr && !cuda->detect().empty());
  if (!result) result.message() << "no cuda backend or no CUDA GPU: skipped";
  return result;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(graph_files)

BOOST_FIXTURE_TEST_CASE(a_batch_table_is_stored_on_the_stage, fixture) {
  auto loaded = load(R"(
[stages.src]
type = "synthetic_source"
[stages.p]
type = "probe"
batch = { max = 8, timeout_ms = 2.5 }
inputs.in = "src.out"
[stages.q]
type = "probe"
batch.max = 3
inputs.in = "p.out"
[stages.sink]
type = "null_sink"
inputs.in = "q.out"
)");
  BOOST_REQUIRE_MESSAGE(loaded.graph, formatted(loaded.errors));
  const auto& p = *loaded.graph->find("p");
  BOOST_REQUIRE(p.batch.has_value());
  BOOST_TEST(p.batch->max == 8u);
  BOOST_TEST(p.batch->timeout_ms == 2.5);
  const auto& q = *loaded.graph->find("q");
  BOOST_REQUIRE(q.batch.has_value());
  BOOST_TEST(q.batch->max == 3u);
  BOOST_TEST(q.batch->timeout_ms == 0.0);  // never waits unless told to
  BOOST_TEST(!loaded.graph->find("sink")->batch.has_value());
}

BOOST_FIXTURE_TEST_CASE(overrides_reach_into_the_batch_table, fixture) {
  auto loaded = load(R"(
[stages.src]
type = "synthetic_source"
[stages.p]
type = "probe"
inputs.in = "src.out"
)",
                     {"p.batch.max=16", "p.batch.timeout_ms=1"});
  BOOST_REQUIRE_MESSAGE(loaded.graph, formatted(loaded.errors));
  BOOST_REQUIRE(loaded.graph->find("p")->batch.has_value());
  BOOST_TEST(loaded.graph->find("p")->batch->max == 16u);
  BOOST_TEST(loaded.graph->find("p")->batch->timeout_ms == 1.0);
}

BOOST_FIXTURE_TEST_CASE(every_mistake_in_a_batch_table_is_reported_where_it_is, fixture) {
  auto loaded = load(R"(
[stages.src]
type = "synthetic_source"
batch = { max = 8 }
[stages.a]
type = "probe"
batch = 8
inputs.in = "src.out"
[stages.b]
type = "probe"
batch = { max = 0, timout_ms = 5 }
inputs.in = "a.out"
[stages.c]
type = "probe"
batch = { max = "8", timeout_ms = -1 }
inputs.in = "b.out"
[stages.d]
type = "probe"
batch = { timeout_ms = 70000 }
inputs.in = "c.out"
[stages.e]
type = "passthrough"
batch = { max = 8, timeout_ms = 5 }
inputs.in = "d.out"
[stages.f]
type = "probe"
batch = { max = 65537, timeout_ms = "5ms" }
inputs.in = "e.out"
)");
  BOOST_TEST(!loaded.graph);
  BOOST_TEST(formatted(loaded.errors) ==
             "test.toml:7:1: error: stage 'src' is a source (synthetic_source has no inputs) and "
             "cannot take `batch`; remove it\n"
             "test.toml:10:9: error: 'batch' of stage 'a' must be a table, not an integer\n"
             "test.toml:14:17: error: 'max' in batch of stage 'b' must be at least 1, not 0\n"
             "test.toml:14:20: error: unknown key 'timout_ms' in batch of stage 'b'; did you mean "
             "'timeout_ms'?\n"
             "test.toml:18:17: error: 'max' in batch of stage 'c' must be an integer, not a "
             "string\n"
             "test.toml:18:35: error: 'timeout_ms' in batch of stage 'c' must be from 0 to 60000, "
             "not -1\n"
             "test.toml:22:9: error: batch of stage 'd' is missing 'max', the most input sets per "
             "call (batch = { max = 8, timeout_ms = 5 })\n"
             "test.toml:22:24: error: 'timeout_ms' in batch of stage 'd' must be from 0 to 60000, "
             "not 70000\n"
             "test.toml:26:1: error: stage 'e' (passthrough) does not take batches; remove "
             "`batch`\n"
             "test.toml:30:17: error: 'max' in batch of stage 'f' must be at most 65536, not "
             "65537\n"
             "test.toml:30:37: error: 'timeout_ms' in batch of stage 'f' must be a number, not a "
             "string\n");
}

BOOST_FIXTURE_TEST_CASE(loom_plan_shows_the_batch, fixture) {
  auto loaded = load(R"(
[stages.src]
type = "synthetic_source"
[stages.p]
type = "probe"
batch = { max = 8, timeout_ms = 5 }
inputs.in = "src.out"
)");
  BOOST_REQUIRE_MESSAGE(loaded.graph, formatted(loaded.errors));
  auto plan = plan_graph(*loaded.graph);
  auto text = to_text(plan);
  BOOST_TEST(text.find("batch: up to 8 input sets per call, waiting at most 5 ms") !=
                 std::string::npos,
             text);
  auto json = to_json(plan);
  BOOST_TEST(json.find("\"batch\": {\"max\": 8, \"timeout_ms\": 5.000}") != std::string::npos,
             json);
  BOOST_TEST(json.find("\"batch\"") == json.rfind("\"batch\""), "only the stage with batch");
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(context)

BOOST_FIXTURE_TEST_CASE(a_batched_call_names_its_items, fixture) {
  const auto& spec = *registry.find("probe");
  stage_context ctx("p", spec, param_values{});
  ctx.start_batch(3);
  for (std::size_t item = 0; item < 3; ++item) {
    packet p;
    p.sequence = 10 + item;
    ctx.set_batch_input(item, 0, make_shared_packet(std::move(p)));
  }
  BOOST_TEST(ctx.batch_size() == 3u);
  BOOST_TEST(ctx.input("in", 2).sequence == 12u);
  BOOST_CHECK_THROW(ctx.input("in"), std::logic_error);     // which item?
  BOOST_CHECK_THROW(ctx.emit("out", packet{}), std::logic_error);
  BOOST_CHECK_THROW(ctx.input("in", 3), std::out_of_range);
  BOOST_CHECK_THROW(ctx.emit_item(3, "out", packet{}), std::out_of_range);
  ctx.emit_item(2, "out", packet{});
  ctx.emit_item(0, "out", packet{});
  BOOST_TEST(ctx.emitted_items() == (std::vector<std::size_t>{2, 0}));
  // The default process_batch: `process` once per item, seeing that item alone.
  ctx.emitted().clear();
  ctx.start_batch(2);
  for (std::size_t item = 0; item < 2; ++item) {
    packet p;
    p.sequence = 20 + item;
    ctx.set_batch_input(item, 0, make_shared_packet(std::move(p)));
  }
  class echo final : public stage {
   public:
    void process(stage_context& c) override { c.emit("out", c.input_ptr()); }
  } e;
  e.process_batch(ctx);
  BOOST_REQUIRE(ctx.emitted().size() == 2u);
  BOOST_TEST(ctx.emitted()[0].second->sequence == 20u);
  BOOST_TEST(ctx.emitted()[1].second->sequence == 21u);
  BOOST_TEST(ctx.emitted_items() == (std::vector<std::size_t>{0, 1}));
  // Back to plain calls: the one input set is item 0.
  ctx.end_batch();
  ctx.emitted().clear();
  packet single;
  single.sequence = 30;
  ctx.set_input(0, make_shared_packet(std::move(single)));
  BOOST_TEST(ctx.batch_size() == 1u);
  BOOST_TEST(ctx.input("in", 0).sequence == 30u);
  ctx.emit("out", packet{});
  BOOST_TEST(ctx.emitted_items().empty());
}

BOOST_FIXTURE_TEST_CASE(counters_grow_as_needed_and_refuse_runaway_indexes, fixture) {
  stage_context ctx("c", *registry.find("counting"), param_values{});
  ctx.count("experts", 3);
  ctx.count("experts", 1, 5);
  ctx.count("experts", 3);
  BOOST_TEST(ctx.counters().at("experts") == (std::vector<std::uint64_t>{0, 5, 0, 2}));
  BOOST_CHECK_THROW(ctx.count("experts", stage_context::max_counter_elements), std::out_of_range);
}

BOOST_AUTO_TEST_CASE(a_collector_is_due_when_full_or_after_its_timeout) {
  batch_collector batch({3, 50});
  BOOST_TEST(batch.empty());
  input_set set;
  auto before = batch_collector::clock::now();
  for (std::uint64_t t = 0; t < 3; ++t) {
    packet p;
    p.sequence = t;
    set.packets.assign(1, make_shared_packet(std::move(p)));
    set.ticket = t * 2;
    batch.add(set, 0);
    BOOST_TEST(set.packets.empty());
  }
  BOOST_TEST(batch.full());
  BOOST_TEST(batch.ticket(2) == 4u);
  BOOST_TEST(batch.packets(1).front()->sequence == 1u);
  BOOST_TEST((batch.deadline() >= before + std::chrono::milliseconds(50)));
  BOOST_TEST((batch.deadline() <= batch_collector::clock::now() + std::chrono::milliseconds(50)));
  batch.clear();
  BOOST_TEST(batch.empty());
  BOOST_TEST(!batch.full());
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(runs)

BOOST_FIXTURE_TEST_CASE(batched_outputs_equal_unbatched_ones_in_order, fixture) {
  const std::string graph = R"(
[stages.src]
type = "synthetic_source"
count = 2000
[stages.p]
type = "probe"
copies = 2
BATCH
inputs.in = "src.out"
[stages.sink]
type = "recorder"
inputs.in = "p.out"
)";
  auto plain = run(with_batch(graph, ""));
  BOOST_TEST(completed(plain));
  auto unbatched = seen();
  BOOST_TEST(unbatched == expected(2000, 2));
  BOOST_TEST(!plain.result.stats.stages.at("p").batches.has_value());
  forget();

  auto batched = run(with_batch(graph, "batch = { max = 8, timeout_ms = 5 }"));
  BOOST_TEST(completed(batched));
  BOOST_TEST(seen() == unbatched);
  const auto& p = batched.result.stats.stages.at("p");
  BOOST_REQUIRE(p.batches.has_value());
  BOOST_TEST(*p.batches == batches->sizes.size());
  std::size_t items = 0;
  for (auto size : batches->sizes) {
    BOOST_TEST(size >= 1u);
    BOOST_TEST(size <= 8u);
    items += size;
  }
  BOOST_TEST(items == 2000u);
  BOOST_TEST(p.batch_mean * static_cast<double>(*p.batches) == 2000.0,
             boost::test_tools::tolerance(1e-9));
  // A source far faster than the stage fills nearly every batch.
  BOOST_TEST(p.batch_mean > 7.0);
  BOOST_TEST(p.packets_in == 2000u);
  BOOST_TEST(p.packets_out == 4000u);
  auto json = to_json(batched.result.stats);
  BOOST_TEST(json.find(fmt::format("\"batches\": {}, \"batch_mean\": ", *p.batches)) !=
                 std::string::npos,
             json);
  BOOST_TEST(json.find("\"batches\"") == json.rfind("\"batches\""), "only the stage with batch");
}

BOOST_FIXTURE_TEST_CASE(replicated_batching_stages_keep_source_order, fixture) {
  auto r = run(R"(
[stages.src]
type = "synthetic_source"
count = 3000
[stages.p]
type = "probe"
replicas = 3
copies = 2
batch = { max = 8, timeout_ms = 1 }
inputs.in = { from = "src.out", capacity = 4 }
[stages.q]
type = "probe"
replicas = 3
batch = { max = 5, timeout_ms = 0 }
inputs.in = "p.out"
[stages.sink]
type = "recorder"
inputs.in = "q.out"
)");
  BOOST_TEST(completed(r));
  // q is called once per copy, with the same ticket: only the second copy ends the ticket.
  BOOST_TEST(seen() == expected(3000, 2));
  // Capacity 4 below max 8 still fills batches: sets leave the edge as they arrive.
  BOOST_TEST(*std::max_element(batches->sizes.begin(), batches->sizes.end()) > 4u);
  BOOST_TEST(r.result.stats.stages.at("p").errors == 0u);
}

BOOST_FIXTURE_TEST_CASE(aligned_and_as_they_arrive_inputs_batch_too, fixture) {
  auto r = run(R"(
[stages.left]
type = "synthetic_source"
count = 500
[stages.right]
type = "synthetic_source"
count = 500
[stages.pair]
type = "pair_up"
batch = { max = 6, timeout_ms = 2 }
inputs.a = "left.out"
inputs.b = "right.out"
[stages.sink]
type = "recorder"
inputs.in = "pair.out"
[stages.any]
type = "either"
batch = { max = 4, timeout_ms = 2 }
inputs.a = "left.out"
inputs.b = "right.out"
[stages.all]
type = "null_sink"
inputs.in = "any.out"
)");
  BOOST_TEST(completed(r));
  std::vector<std::uint64_t> in_order(500);
  std::iota(in_order.begin(), in_order.end(), std::uint64_t{0});
  BOOST_TEST(rec->sequences == in_order, boost::test_tools::per_element());
  const auto& stats = r.result.stats;
  BOOST_TEST(stats.stages.at("pair").errors == 0u);
  BOOST_TEST(stats.stages.at("pair").packets_in == 1000u);
  BOOST_TEST(stats.stages.at("any").packets_out == 1000u);
  BOOST_TEST(stats.sinks.at("all").packets == 1000u);
  BOOST_TEST(*stats.stages.at("any").batches > 0u);
}

BOOST_FIXTURE_TEST_CASE(a_partial_batch_is_drained_at_the_end_of_its_inputs, fixture) {
  auto r = run(R"(
[stages.src]
type = "synthetic_source"
count = 13
[stages.p]
type = "probe"
batch = { max = 8, timeout_ms = 60000 }
inputs.in = "src.out"
[stages.sink]
type = "recorder"
inputs.in = "p.out"
)");
  BOOST_TEST(completed(r));
  BOOST_TEST(r.result.stats.seconds < 30.0);  // the last 5 did not wait out the minute
  BOOST_TEST(seen() == expected(13, 1));
  BOOST_TEST(batches->sizes == (std::vector<std::size_t>{8, 5}));
  BOOST_TEST(*r.result.stats.stages.at("p").batches == 2u);
  BOOST_TEST(r.result.stats.stages.at("p").batch_mean == 6.5);
}

BOOST_FIXTURE_TEST_CASE(a_slow_source_is_called_after_the_timeout, fixture) {
  // A packet every 20 ms and a 5 ms timeout: each batch holds one packet, called 5 ms after it
  // arrived, so the sink sees every packet at least 5 ms after it was made, and not much later.
  auto r = run(R"(
[stages.src]
type = "synthetic_source"
count = 25
rate_hz = 50
[stages.p]
type = "probe"
batch = { max = 8, timeout_ms = 5 }
inputs.in = "src.out"
[stages.sink]
type = "null_sink"
inputs.in = "p.out"
)");
  BOOST_TEST(completed(r));
  const auto& p = r.result.stats.stages.at("p");
  BOOST_TEST(p.packets_in == 25u);
  BOOST_TEST(p.batch_mean < 1.3);
  const auto& sink = r.result.stats.sinks.at("sink");
  BOOST_TEST(sink.latency_p50_us >= 5000 * 0.97);  // within the histogram's 3 %
  BOOST_TEST(sink.latency_p50_us < 5000 + 15000);
  BOOST_TEST(sink.latency_p99_us < 5000 + 60000);
}

BOOST_FIXTURE_TEST_CASE(a_failed_batch_fails_every_packet_in_it, fixture) {
  // With a minute's timeout every batch is full: [0..7] holds the failing packet 5, [8..15] not.
  auto r = run(R"(
[stages.src]
type = "synthetic_source"
count = 16
[stages.p]
type = "probe"
fail_on = 5
batch = { max = 8, timeout_ms = 60000 }
inputs.in = "src.out"
[stages.sink]
type = "recorder"
inputs.in = "p.out"
)");
  BOOST_TEST(completed(r));
  const auto& p = r.result.stats.stages.at("p");
  BOOST_TEST(p.errors == 8u);
  // The policy sees 8 failed packets in a row; restart.errors = 5 restarts once for the call.
  BOOST_TEST(p.restarts == 1u);
  BOOST_TEST(rec->sequences == (std::vector<std::uint64_t>{8, 9, 10, 11, 12, 13, 14, 15}));
  BOOST_REQUIRE(!r.log.empty());
  BOOST_TEST(r.log.front() ==
             "stage 'p' (probe) on a batch of 8 packets (0 to 7): bad packet in the batch");

  forget();
  auto failing = run(R"(
[stages.src]
type = "synthetic_source"
count = 16
[stages.p]
type = "probe"
fail_on = 12
on_error = "fail"
batch = { max = 8, timeout_ms = 60000 }
inputs.in = "src.out"
[stages.sink]
type = "recorder"
inputs.in = "p.out"
)");
  BOOST_TEST((failing.result.status == run_result::outcome::failed));
  BOOST_TEST(failing.result.stats.stages.at("p").errors == 8u);
}

BOOST_FIXTURE_TEST_CASE(counters_are_summed_over_calls_and_replicas, fixture) {
  auto r = run(R"(
[stages.src]
type = "synthetic_source"
count = 1000
[stages.c]
type = "counting"
replicas = 3
inputs.in = "src.out"
[stages.sink]
type = "null_sink"
inputs.in = "c.out"
)");
  BOOST_TEST(completed(r));
  std::vector<std::uint64_t> residue(5, 0);
  std::uint64_t sum = 0;
  for (std::uint64_t s = 0; s < 1000; ++s) {
    ++residue[s % 5];
    sum += s;
  }
  const auto& c = r.result.stats.stages.at("c");
  BOOST_TEST(c.counters.at("residue") == residue, boost::test_tools::per_element());
  BOOST_TEST(c.counters.at("sum") == std::vector<std::uint64_t>{sum},
             boost::test_tools::per_element());
  BOOST_TEST(r.result.stats.stages.at("sink").counters.empty());
  auto json = to_json(r.result.stats);
  BOOST_TEST(json.find(fmt::format("\"counters\": {{\"residue\": [{}], \"sum\": [{}]}}",
                                   fmt::join(residue, ", "), sum)) != std::string::npos,
             json);
  BOOST_TEST(json.find("\"counters\"") == json.rfind("\"counters\""), "only the counting stage");
}

namespace {

// Runs rows_source -> matmul on `device` -> recorder without and with `batch`, and checks both
// against a naive product; returns the batched run's packets and stats.
std::pair<std::vector<packet_ptr>, run_stats> check_matmul_batches(fixture& f,
                                                                    const std::string& devices,
                                                                    const std::string& device) {
  constexpr std::int64_t k = 24, n = 40;
  constexpr std::uint64_t count = 300;
  const std::string graph = devices + R"(
[stages.src]
type = "rows_source"
count = 300
k = 24
[stages.mm]
type = "matmul"
device = "DEVICE"
k = 24
n = 40
weights = "random:11"
BATCH
inputs.in = "src.out"
[stages.sink]
type = "recorder"
inputs.in = "mm.out"
)";
  auto on_device = graph;
  on_device.replace(on_device.find("DEVICE"), 6, device);
  auto plain = f.run(with_batch(on_device, ""));
  BOOST_TEST(completed(plain));
  auto unbatched = f.rec->packets;
  f.forget();
  auto batched = f.run(with_batch(on_device, "batch = { max = 8, timeout_ms = 5 }"));
  BOOST_TEST(completed(batched));
  BOOST_REQUIRE(f.rec->packets.size() == count);
  BOOST_REQUIRE(unbatched.size() == count);

  const auto w = matmul_weights(11, k, n);
  double worst = 0, worst_against_alone = 0;
  for (std::uint64_t s = 0; s < count; ++s) {
    const auto& out = f.rec->packets[s]->at("data");
    BOOST_TEST(f.rec->packets[s]->sequence == s);
    const auto in = rows_source::source_rows(s, k);
    const auto rows = in.shape()[0];
    BOOST_REQUIRE((out.shape() == dims{rows, n}));
    const auto& alone = unbatched[s]->at("data");
    for (std::int64_t r = 0; r < rows; ++r)
      for (std::int64_t c = 0; c < n; ++c) {
        double expect = 0;
        for (std::int64_t i = 0; i < k; ++i)
          expect += static_cast<double>(in.data<float>()[r * k + i]) * w[i * n + c];
        const float got = out.data<float>()[r * out.strides()[0] + c];
        worst = std::max(worst, std::abs(got - expect));
        worst_against_alone = std::max(
            worst_against_alone,
            static_cast<double>(std::abs(got - alone.data<float>()[r * alone.strides()[0] + c])));
      }
  }
  BOOST_TEST(worst < 1e-4);
  // A taller matrix may be summed in another order by the library: equal up to f32 rounding.
  BOOST_TEST(worst_against_alone < 1e-5);
  const auto& mm = batched.result.stats.stages.at("mm");
  BOOST_REQUIRE(mm.batches.has_value());
  BOOST_TEST(mm.batch_mean > 1.0);
  BOOST_TEST(mm.errors == 0u);
  return {f.rec->packets, batched.result.stats};
}

}  // namespace

BOOST_FIXTURE_TEST_CASE(matmul_multiplies_a_batch_in_one_product, fixture) {
  auto [packets, stats] = check_matmul_batches(*this, "", "cpu");
  // Each batch's outputs are views of its one product: one allocation per batch.
  std::size_t allocations = 0;
  for (std::size_t s = 0; s < packets.size(); ++s)
    if (s == 0 || !packets[s]->at("data").memory().same_memory(packets[s - 1]->at("data").memory()))
      ++allocations;
  BOOST_TEST(allocations == *stats.stages.at("mm").batches);
}

BOOST_FIXTURE_TEST_CASE(matmul_batches_on_an_emulated_npu, fixture) {
  check_matmul_batches(*this, R"(
[devices.npu0]
kind = "emu"
memory = "64MiB"
precision = "f32"
)",
                       "npu0");
}

BOOST_FIXTURE_TEST_CASE(matmul_batches_on_a_gpu, fixture,
                        *boost::unit_test::precondition(has_gpu)) {
  check_matmul_batches(*this, R"(
[devices.gpu0]
kind = "cuda"
gpu = 0
memory = "1GiB"
)",
                       "gpu0");
}

BOOST_AUTO_TEST_SUITE_END()
