// The pieces of a deployment that need no second process: splitting a graph by node, the part
// each node runs, the control messages, and putting the parts' stats back together.
#include <boost/test/unit_test.hpp>

#include <random>

#include "connectors/control_codec.hpp"
#include "connectors/deployment_stats.hpp"
#include "connectors/graph_parts.hpp"
#include "graphs/load.hpp"

using namespace loom;

namespace {

// src on a, hop on b, sink here (the coordinator), and a second consumer of src on b.
const std::string three_nodes = R"(
[graph]
name = "spread"
version = 1

[nodes.a]
address = "tcp://10.0.0.1:7000"

[nodes.b]
address = "tcp://10.0.0.2:8000"

[stages.src]
type = "synthetic_source"
count = 10
node = "a"

[stages.hop]
type = "passthrough"
node = "b"
inputs.in = { from = "src.out", capacity = 5, policy = "drop_newest" }

[stages.tap]
type = "null_sink"
node = "b"
inputs.in = "src.out"

[stages.sink]
type = "null_sink"
inputs.in = "hop.out"
)";

struct loaded {
  stage_registry registry = stage_registry::with_builtins();
  graph_def graph;
  explicit loaded(const std::string& text) {
    auto result = load_graph_text(text, "spread.toml", {}, registry);
    std::string errors;
    for (const auto& e : result.errors) errors += format(e) + "\n";
    BOOST_TEST_REQUIRE(result.graph.has_value(), errors);
    graph = std::move(*result.graph);
  }
};

std::vector<std::string> names(const graph_def& g) {
  std::vector<std::string> out;
  for (const auto& s : g.stages) out.push_back(s.name);
  return out;
}

const stage_def& find_stage(const graph_def& g, const std::string& name) {
  const auto* s = g.find(name);
  BOOST_TEST_REQUIRE(s != nullptr, "no stage " << name);
  return *s;
}

}  // namespace

BOOST_AUTO_TEST_CASE(stages_know_their_nodes_and_shards_may_name_their_own) {
  loaded l(three_nodes);
  BOOST_TEST(find_stage(l.graph, "src").node == "a");
  BOOST_TEST(find_stage(l.graph, "sink").node == "");
  BOOST_TEST(l.graph.nodes.at("b").host == "10.0.0.2");
  BOOST_TEST(l.graph.nodes.at("b").port == 8000);

  loaded moe(R"(
[graph]
name = "experts"
version = 1
[nodes.x]
address = "tcp://h:9000"
[nodes.y]
address = "tcp://k:9000"
[stages.tokens]
type = "synthetic_source"
shape = [4, 16]
dtype = "f32"
[stages.moe]
type = "moe"
d_model = 16
d_ff = 32
experts = 4
top_k = 2
weights = "random:1"
node = "x"
shards = [{ device = "cpu", experts = "0-1" }, { device = "cpu", experts = "2-3", node = "y" }]
inputs.in = "tokens.out"
)");
  BOOST_TEST(find_stage(moe.graph, "moe/shard0").node == "x");
  BOOST_TEST(find_stage(moe.graph, "moe/shard1").node == "y");
  BOOST_TEST(find_stage(moe.graph, "moe/router").node == "x");
}

BOOST_AUTO_TEST_CASE(edges_between_nodes_become_a_zmq_pair_that_keeps_capacity_and_policy) {
  loaded l(three_nodes);
  auto split = split_graph(l.graph);
  BOOST_TEST((split.nodes == std::vector<std::string>{"", "a", "b"}));
  BOOST_TEST_REQUIRE(split.crossings.size() == 3u);
  // In stage order: hop <- src (a -> b), tap <- src (a -> b), sink <- hop (b -> coordinator).
  const auto& to_hop = split.crossings[0];
  BOOST_TEST(to_hop.edge.to_stage == "hop");
  BOOST_TEST(to_hop.binding_node == "b");
  BOOST_TEST(to_hop.port == 8001);
  BOOST_TEST(split.crossings[1].port == 8002);
  const auto& to_sink = split.crossings[2];
  BOOST_TEST(to_sink.binding_node == "b");  // the coordinator has no address: b binds
  BOOST_TEST(to_sink.port == 8003);

  std::map<std::string, std::string> keys{{"a", std::string(40, 'A')}, {"b", std::string(40, 'B')}};
  auto on_a = part_of(l.graph, split, "a", l.registry, keys);
  BOOST_TEST((names(on_a) == std::vector<std::string>{"src", "src.out->hop.in/send",
                                                      "src.out->tap.in/send"}));
  const auto& send = find_stage(on_a, "src.out->hop.in/send");
  BOOST_TEST(send.type == "zmq_sink");
  BOOST_TEST(send.values.string("endpoint") == "tcp://10.0.0.2:8001");
  BOOST_TEST(send.values.boolean("bind") == false);
  BOOST_TEST(send.values.string("server_key") == keys["b"]);
  BOOST_TEST_REQUIRE(send.inputs.size() == 1u);
  BOOST_TEST(send.inputs[0].from_stage == "src");
  BOOST_TEST(send.inputs[0].capacity == 5u);
  BOOST_TEST((send.inputs[0].policy == full_policy::drop_newest));

  auto on_b = part_of(l.graph, split, "b", l.registry, keys);
  BOOST_TEST((names(on_b) == std::vector<std::string>{"src.out->hop.in/receive",
                                                      "src.out->tap.in/receive", "hop", "tap",
                                                      "hop.out->sink.in/send"}));
  const auto& receive = find_stage(on_b, "src.out->hop.in/receive");
  BOOST_TEST(receive.type == "zmq_source");
  BOOST_TEST(receive.values.string("endpoint") == "tcp://*:8001");
  BOOST_TEST(receive.values.boolean("bind") == true);
  BOOST_TEST(receive.values.integer("capacity") == 5);
  BOOST_TEST(receive.values.integer("edge") == 0);
  BOOST_TEST(find_stage(on_b, "hop").inputs[0].from_stage == "src.out->hop.in/receive");
  const auto& back = find_stage(on_b, "hop.out->sink.in/send");
  BOOST_TEST(back.values.boolean("bind") == true);
  BOOST_TEST(back.values.string("endpoint") == "tcp://*:8003");

  auto here = part_of(l.graph, split, "", l.registry, keys);
  BOOST_TEST((names(here) == std::vector<std::string>{"hop.out->sink.in/receive", "sink"}));
  const auto& from_b = find_stage(here, "hop.out->sink.in/receive");
  BOOST_TEST(from_b.values.string("endpoint") == "tcp://10.0.0.2:8003");
  BOOST_TEST(from_b.values.boolean("bind") == false);
  BOOST_TEST(from_b.values.string("server_key") == keys["b"]);
  BOOST_TEST(split.is_bridge("hop.out->sink.in/receive"));
  BOOST_TEST(!split.is_bridge("sink"));
}

BOOST_AUTO_TEST_CASE(nodes_on_one_host_are_joined_by_shared_memory) {
  loaded l(R"(
[graph]
name = "one_host"
version = 1
[nodes.a]
address = "tcp://127.0.0.1:7000"
[nodes.b]
address = "tcp://127.0.0.1:7100"
[stages.src]
type = "synthetic_source"
node = "a"
[stages.sink]
type = "null_sink"
node = "b"
inputs.in = { from = "src.out", capacity = 7 }
)");
  auto split = split_graph(l.graph);
  BOOST_TEST_REQUIRE(split.crossings.size() == 1u);
  BOOST_TEST((split.crossings[0].over == crossing_edge::transport::shm));
  auto on_a = part_of(l.graph, split, "a", l.registry, {});
  auto on_b = part_of(l.graph, split, "b", l.registry, {});
  const auto& send = find_stage(on_a, "src.out->sink.in/send");
  const auto& receive = find_stage(on_b, "src.out->sink.in/receive");
  BOOST_TEST(send.type == "shm_sink");
  BOOST_TEST(receive.type == "shm_source");
  BOOST_TEST(send.values.string("path") == receive.values.string("path"));
  BOOST_TEST(receive.values.integer("capacity") == 7);
}

BOOST_AUTO_TEST_CASE(control_messages_round_trip) {
  control::deploy d{"b", "[graph]\nname = \"x\"\n", "/srv/g.toml", {"src.count=3", "a.b=\"c\""},
                    {{"a", std::string(40, 'k')}}};
  auto back = std::get<control::deploy>(control::decode(control::encode(d), "test"));
  BOOST_TEST(back.node == d.node);
  BOOST_TEST(back.graph_text == d.graph_text);
  BOOST_TEST(back.graph_path == d.graph_path);
  BOOST_TEST(back.overrides == d.overrides);
  BOOST_TEST((back.public_keys == d.public_keys));

  control::finished f;
  f.result.status = run_result::outcome::failed;
  f.result.failures = {"stage 'x' failed"};
  auto& st = f.result.stats.stages["hop"];
  st.type = "passthrough";
  st.packets_in = 7;
  st.cpus = {1, 3};
  st.batches = 2;
  st.counters["wire_packets"] = {4, 5};
  f.result.stats.sinks["sink"].latency_p99_us = 12.5;
  f.result.stats.edges["a.out -> b.in"].dropped = 9;
  f.result.stats.peak_rss_bytes = 1234;
  auto got = std::get<control::finished>(control::decode(control::encode(f), "test")).result;
  BOOST_TEST((got.status == run_result::outcome::failed));
  BOOST_TEST(got.failures == f.result.failures);
  BOOST_TEST(got.stats.stages.at("hop").packets_in == 7u);
  BOOST_TEST(got.stats.stages.at("hop").cpus == std::vector<int>({1, 3}));
  BOOST_TEST(got.stats.stages.at("hop").batches.value() == 2u);
  BOOST_TEST(got.stats.stages.at("hop").counters.at("wire_packets") ==
             std::vector<std::uint64_t>({4, 5}));
  BOOST_TEST(got.stats.sinks.at("sink").latency_p99_us == 12.5);
  BOOST_TEST(got.stats.edges.at("a.out -> b.in").dropped == 9u);
  BOOST_TEST(got.stats.peak_rss_bytes == 1234u);

  BOOST_TEST(std::get<control::stop>(control::decode(control::encode(control::stop{true}), "t")).abort);
  BOOST_TEST(std::holds_alternative<control::ready>(control::decode(control::encode(control::ready{}), "t")));
}

BOOST_AUTO_TEST_CASE(malformed_control_messages_are_refused_without_a_crash) {
  BOOST_CHECK_THROW(control::decode(buffer::allocate(0), "peer"), wire::wire_error);
  BOOST_CHECK_THROW(control::decode(buffer::allocate(13), "peer"), wire::wire_error);
  auto good = control::encode(control::deploy{"b", std::string(300, 'g'), "/g", {"x=1"}, {}});
  std::mt19937 random(7);
  int refused = 0;
  for (int i = 0; i < 5000; ++i) {
    auto copy = buffer::allocate(good.size());
    std::copy_n(good.data(), good.size(), copy.data());
    for (int flips = 1 + static_cast<int>(random() % 4); flips > 0; --flips)
      copy.data()[random() % copy.size()] = static_cast<std::byte>(random());
    try {
      control::decode(copy, "fuzz");
    } catch (const wire::wire_error&) {
      ++refused;
    }
  }
  BOOST_TEST(refused > 0);
}

BOOST_AUTO_TEST_CASE(the_parts_stats_make_one_summary_and_a_lost_node_loses_what_it_was_sent) {
  loaded l(three_nodes);
  auto split = split_graph(l.graph);
  run_result a, here;
  a.stats.stages["src"].packets_out = 10;
  a.stats.stages["src.out->hop.in/send"].packets_in = 8;
  a.stats.sinks["src.out->hop.in/send"].packets = 8;
  a.stats.edges["src.out -> src.out->hop.in/send.in"] = {8, 2, 0, "drop_newest", 5, 0};
  a.stats.edges["src.out -> src.out->tap.in/send.in"] = {10, 0, 0, "block", 64, 0};
  a.stats.peak_rss_bytes = 100;
  here.stats.stages["sink"].packets_in = 6;
  here.stats.sinks["sink"].packets = 6;
  here.stats.peak_rss_bytes = 50;

  auto merged = merge_part_stats(l.graph, split,
                                 {{"", "", here}, {"a", "tcp://10.0.0.1:7000", a},
                                  {"b", "tcp://10.0.0.2:8000", std::nullopt}},
                                 1.5);
  BOOST_TEST(merged.stages.count("src.out->hop.in/send") == 0u);
  BOOST_TEST(merged.sinks.count("src.out->hop.in/send") == 0u);
  BOOST_TEST(merged.stages.at("src").packets_out == 10u);
  BOOST_TEST(merged.stages.at("hop").packets_in == 0u);  // b was lost: named, nothing counted
  BOOST_TEST(merged.stages.at("hop").dropped == 2u);     // dropped on its edge, on a
  const auto& edge = merged.edges.at("src.out -> hop.in");
  BOOST_TEST(edge.dropped == 2u);
  BOOST_TEST(edge.lost == 8u);
  BOOST_TEST(edge.transport == "tcp");
  BOOST_TEST(merged.edges.at("src.out -> tap.in").lost == 10u);
  BOOST_TEST(merged.edges.count("src.out -> src.out->hop.in/send.in") == 0u);
  BOOST_TEST(merged.nodes.at("b").outcome == "lost");
  BOOST_TEST(merged.nodes.at("a").outcome == "completed");
  BOOST_TEST(merged.peak_rss_bytes == 150u);
  BOOST_TEST(to_json(merged).find("\"lost\": 8") != std::string::npos);
}
