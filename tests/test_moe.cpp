// The moe stage: expert sets, top-k routing against a direct reading of the definition, the
// expansion of a graph's moe stage into router, shards and combiner (and its errors), the
// sharded layer against the dense reference of moe_reference.hpp (plain loops), and a run whose
// statistics count tokens per expert.
#include <boost/test/unit_test.hpp>

#include <cmath>
#include <map>
#include <numeric>
#include <random>

#include <fmt/format.h>

#include "graphs/load.hpp"
#include "model_golden.hpp"
#include "moe_reference.hpp"
#include "runtime_fixture.hpp"
#include "stages/model/moe/expert_set.hpp"
#include "stages/model/moe/moe_stages.hpp"
#include "stages/model/moe/routing.hpp"
#include "stages/model/weights.hpp"
#include "stages/registry.hpp"

using namespace loom;

namespace {

stage_registry& registry() {
  static stage_registry r = stage_registry::with_builtins();
  return r;
}

tensor host_tensor(const std::vector<float>& values, shape_t shape) {
  tensor t = host_device().allocate_tensor(dtype::f32, shape);
  std::copy(values.begin(), values.end(), t.data<float>());
  return t;
}

using test::layer_shape;
using test::random_rows;
using test::reference_moe;

std::string moe_graph(const std::string& stage_keys, const std::string& extra = "") {
  return R"([graph]
name = "moe"
version = 1
[devices.left]
kind = "cpu"
[devices.right]
kind = "cpu"
[stages.src]
type = "synthetic_source"
count = 3
shape = [10, 16]
dtype = "f32"
[stages.layer]
type = "moe"
d_model = 16
d_ff = 8
experts = 6
top_k = 2
shared_experts = 1
weights = "random:5"
)" + stage_keys + R"(
inputs.in = "src.out"
[stages.sink]
type = "null_sink"
inputs.in = "layer.out"
)" + extra;
}

std::vector<std::string> load_errors(const std::string& toml) {
  auto loaded = load_graph_text(toml, "moe.toml", {}, registry());
  std::vector<std::string> out;
  for (const auto& d : loaded.errors) out.push_back(format(d));
  return out;
}

bool mentions(const std::vector<std::string>& errors, const std::string& text) {
  for (const auto& e : errors)
    if (e.find(text) != std::string::npos) return true;
  return false;
}

// Runs the parts of the graph's moe stage by hand: router, then each shard, then the combiner.
tensor run_parts(const graph_def& graph, const tensor& x) {
  auto make = [&](const std::string& name) {
    const auto* def = graph.find(name);
    BOOST_REQUIRE_MESSAGE(def != nullptr, "no stage " << name);
    auto ctx = std::make_unique<stage_context>(def->name, *def->spec, def->values, def->device);
    auto instance = def->spec->make();
    instance->open(*ctx);
    return std::make_pair(std::move(ctx), std::move(instance));
  };
  auto [router_ctx, router] = make("layer/router");
  packet in;
  in.set("data", x);
  router_ctx->set_input(0, std::make_shared<const packet>(std::move(in)));
  router->process(*router_ctx);
  auto routed = std::move(router_ctx->emitted());
  auto [combiner_ctx, combiner] = make("layer");
  for (auto& [port, part] : routed) {
    auto [shard_ctx, shard] = make("layer/shard" + std::to_string(port));
    shard_ctx->set_input(0, part);
    shard->process(*shard_ctx);
    BOOST_REQUIRE_EQUAL(shard_ctx->emitted().size(), 1u);
    combiner_ctx->set_input(port, shard_ctx->emitted().front().second);
  }
  combiner->process(*combiner_ctx);
  BOOST_REQUIRE_EQUAL(combiner_ctx->emitted().size(), 1u);
  return combiner_ctx->emitted().front().second->at("data");
}

}  // namespace

BOOST_AUTO_TEST_CASE(expert_sets_read_ranges_and_lists) {
  BOOST_TEST(parse_expert_set("0-3, 8", 16) == (std::vector<std::int64_t>{0, 1, 2, 3, 8}));
  BOOST_TEST(parse_expert_set(" 5 ", 16) == (std::vector<std::int64_t>{5}));
  BOOST_TEST(expert_set_text({0, 1, 2, 3, 8, 10, 11}) == "0-3, 8, 10-11");
  auto fails_with = [](const std::string& text, const std::string& message) {
    try {
      parse_expert_set(text, 16);
    } catch (const std::invalid_argument& e) {
      BOOST_TEST_MESSAGE(e.what());
      return std::string(e.what()).find(message) != std::string::npos;
    }
    return false;
  };
  BOOST_TEST(fails_with("0-16", "expert 16 in \"0-16\" is out of range: the layer has 16 experts, 0-15"));
  BOOST_TEST(fails_with("7-3", "runs backwards; write it \"3-7\""));
  BOOST_TEST(fails_with("1,1", "names expert 1 twice"));
  BOOST_TEST(fails_with("a-b", "is not a list of expert indices"));
  BOOST_TEST(fails_with("", "is not a list of expert indices"));
}

BOOST_AUTO_TEST_CASE(routing_picks_the_top_k_with_normalised_weights_grouped_by_expert) {
  const std::int64_t tokens = 50, experts = 7, top_k = 3;
  auto scores = random_rows(tokens, experts, 3);
  const auto original = scores;
  const std::vector<std::int64_t> order{4, 5, 6, 0, 1, 2, 3};  // two shards: 4-6, then 0-3
  moe_routes routes;
  route_tokens(scores.data(), tokens, experts, top_k, order, routes);
  BOOST_REQUIRE_EQUAL(routes.tokens.size(), static_cast<std::size_t>(tokens * top_k));
  BOOST_REQUIRE_EQUAL(routes.offsets.size(), order.size() + 1);
  std::map<std::pair<std::int64_t, std::int64_t>, float> got;  // (token, expert) → weight
  for (std::size_t p = 0; p < order.size(); ++p)
    for (auto r = routes.offsets[p]; r < routes.offsets[p + 1]; ++r) {
      if (r > routes.offsets[p]) BOOST_TEST(routes.tokens[r] > routes.tokens[r - 1]);
      got[{routes.tokens[r], order[p]}] = routes.gates[r];
    }
  for (std::int64_t t = 0; t < tokens; ++t) {
    const float* row = original.data() + t * experts;
    std::vector<std::int64_t> ranked{0, 1, 2, 3, 4, 5, 6};
    std::stable_sort(ranked.begin(), ranked.end(), [&](auto a, auto b) { return row[a] > row[b]; });
    double top = 0;
    for (std::int64_t k = 0; k < top_k; ++k) top += std::exp(row[ranked[k]]);
    for (std::int64_t k = 0; k < top_k; ++k) {
      auto found = got.find({t, ranked[k]});
      BOOST_REQUIRE(found != got.end());
      BOOST_TEST(found->second == std::exp(row[ranked[k]]) / top, boost::test_tools::tolerance(1e-5));
    }
  }
}

BOOST_AUTO_TEST_CASE(ties_go_to_the_lower_expert) {
  std::vector<float> scores(4, 0.0f);  // one token, four equal experts
  moe_routes routes;
  route_tokens(scores.data(), 1, 4, 2, {0, 1, 2, 3}, routes);
  BOOST_TEST(routes.offsets == (std::vector<std::int64_t>{0, 1, 2, 2, 2}));
  BOOST_TEST(routes.gates[0] == 0.5f);
}

BOOST_AUTO_TEST_CASE(a_moe_stage_expands_into_router_shards_and_combiner) {
  auto graph = test::load_text(
      moe_graph(R"(shards = [{ device = "left", experts = "0-3" }, { device = "right", experts = "4-5" }])"),
      registry());
  const auto* router = graph.find("layer/router");
  const auto* shard0 = graph.find("layer/shard0");
  const auto* shard1 = graph.find("layer/shard1");
  const auto* combiner = graph.find("layer");
  BOOST_REQUIRE(router && shard0 && shard1 && combiner);
  BOOST_TEST(router->type == "moe_router");
  BOOST_TEST(combiner->type == "moe_combiner");
  BOOST_TEST(shard0->device == "left");
  BOOST_TEST(shard1->device == "right");
  BOOST_TEST(shard1->values.string("experts_held") == "4-5");
  BOOST_TEST(router->inputs.at(0).from_stage == "src");
  BOOST_TEST(combiner->inputs.size() == 2u);
  BOOST_TEST(graph.find("sink")->inputs.at(0).from_stage == "layer");
}

BOOST_AUTO_TEST_CASE(the_sharded_layer_matches_the_dense_reference) {
  layer_shape s;
  const std::int64_t tokens = 37;
  auto x = random_rows(tokens, s.d, 11);
  auto expected = reference_moe(x, tokens, s, "random:5");
  for (const std::string layout :
       {std::string(""),
        std::string(R"(shards = [{ device = "left", experts = "0-3" }, { device = "right", experts = "4-5" }])"),
        std::string(R"(shards = [{ device = "left", experts = "1, 3, 5" }, { device = "right", experts = "0, 2" }, { device = "cpu", experts = "4" }])")}) {
    BOOST_TEST_CONTEXT(layout) {
      auto graph = test::load_text(moe_graph(layout), registry());
      tensor out = run_parts(graph, host_tensor(x, {tokens, s.d}));
      BOOST_REQUIRE(out.shape() == (shape_t{tokens, s.d}));
      for (std::size_t i = 0; i < expected.size(); ++i)
        BOOST_TEST(out.data<float>()[i] == expected[i], boost::test_tools::tolerance(2e-4f));
    }
  }
}

BOOST_AUTO_TEST_CASE(a_run_counts_tokens_per_expert) {
  auto ran = test::run_text(
      moe_graph(R"(shards = [{ device = "left", experts = "0-2" }, { device = "right", experts = "3-5" }])"),
      registry());
  BOOST_REQUIRE(ran.result.status == run_result::outcome::completed);
  const auto& counts = ran.result.stats.stages.at("layer/router").counters.at("tokens_per_expert");
  BOOST_REQUIRE_EQUAL(counts.size(), 6u);
  // 3 packets × 10 tokens × top_k 2.
  BOOST_TEST(std::accumulate(counts.begin(), counts.end(), std::uint64_t{0}) == 60u);
  BOOST_TEST(ran.result.stats.sinks.at("sink").packets == 3u);
  BOOST_TEST(ran.result.stats.stages.at("layer/shard1").packets_in == 3u);
  BOOST_TEST(ran.result.stats.stages.at("layer/shard1").device == "right");
}

BOOST_AUTO_TEST_CASE(shard_layouts_are_checked_where_they_are_written) {
  auto errors = load_errors(moe_graph(R"(shards = [{ device = "left", experts = "0-3" }, { device = "rigth", experts = "3-5" }])"));
  BOOST_TEST(mentions(errors, "shard 1 of stage 'layer' is placed on unknown device 'rigth'; did you mean 'right'?"));
  errors = load_errors(moe_graph(R"(shards = [{ device = "left", experts = "0-3" }, { device = "right", experts = "3-5" }])"));
  BOOST_TEST(mentions(errors, "expert 3 of stage 'layer' is in shard 0 and shard 1"));
  errors = load_errors(moe_graph(R"(shards = [{ device = "left", experts = "0-3" }])"));
  BOOST_TEST(mentions(errors, "moe.toml:21:10: error: experts 4-5 of stage 'layer' are in no shard"));
  errors = load_errors(moe_graph(R"(shards = [{ device = "left", experts = "0-9" }])"));
  BOOST_TEST(mentions(errors, "'experts' of shard 0 of stage 'layer': expert 9 in \"0-9\" is out of range"));
  errors = load_errors(moe_graph(R"(shards = [{ device = "left", expert = "0-5" }])"));
  BOOST_TEST(mentions(errors, "unknown key 'expert'"));
  errors = load_errors(moe_graph(R"(shards = "0-5")"));
  BOOST_TEST(mentions(errors, "'shards' of stage 'layer' must be a list, not a string"));
  errors = load_errors(moe_graph("replicas = 2"));
  BOOST_TEST(mentions(errors, "has replicas = 2; a moe stage spreads its experts with 'shards' instead"));
  for (const auto& e : errors) BOOST_TEST_MESSAGE(e);
}

// The PyTorch reference's layer (tools/reference/model_reference.py), f32 and bf16, with its
// experts split over two shards as a graph would split them.
void check_moe_golden(const std::string& stem) {
  const auto g = test::read_model_golden(stem);
  const auto p = g.params(*registry().find("moe"));
  const auto experts = p.integer("experts");
  auto graph = test::load_text(fmt::format(R"([graph]
name = "golden"
version = 1
[stages.src]
type = "synthetic_source"
shape = [1, {d}]
dtype = "f32"
[stages.layer]
type = "moe"
d_model = {d}
d_ff = {ff}
experts = {e}
top_k = {k}
shared_experts = {s}
dtype = "{dtype}"
weights = "{w}"
shards = [{{ device = "cpu", experts = "0-{half}" }}, {{ device = "cpu", experts = "{half1}-{last}" }}]
inputs.in = "src.out"
[stages.sink]
type = "null_sink"
inputs.in = "layer.out"
)", fmt::arg("d", p.integer("d_model")), fmt::arg("ff", p.integer("d_ff")),
      fmt::arg("e", experts), fmt::arg("k", p.integer("top_k")),
      fmt::arg("s", p.integer("shared_experts")), fmt::arg("dtype", p.string("dtype")),
      fmt::arg("w", g.weights_path), fmt::arg("half", experts / 2 - 1),
      fmt::arg("half1", experts / 2), fmt::arg("last", experts - 1)), registry());
  tensor out = run_parts(graph, g.input().at("data"));
  for (const auto& [name, expected] : g.outputs()) {
    BOOST_REQUIRE(name == "data");
    BOOST_REQUIRE(out.shape() == expected->shape());
    const double error = test::relative_rms_error(out, *expected);
    BOOST_TEST_MESSAGE(stem << ": relative RMS error " << error);
    BOOST_TEST(error <= g.tolerance);
  }
}

BOOST_AUTO_TEST_CASE(the_layer_matches_the_pytorch_golden_f32) { check_moe_golden("moe_f32"); }
BOOST_AUTO_TEST_CASE(the_layer_matches_the_pytorch_golden_bf16) { check_moe_golden("moe_bf16"); }
