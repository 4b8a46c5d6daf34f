// The `loom` command end to end: exit codes, --stats json, --set, check/graph/stages/version,
// --help, a runtime failure, and SIGINT during a run.
#include <boost/test/unit_test.hpp>

#include <boost/property_tree/json_parser.hpp>
#include <boost/property_tree/ptree.hpp>

#include <fstream>
#include <future>

#include "process.hpp"

using loom::test::process_result;
using loom::test::run_process;
namespace pt = boost::property_tree;

namespace {

const std::string loom_bin = LOOM_EXECUTABLE;
const std::string source_dir = LOOM_SOURCE_DIR;
const std::string chain = source_dir + "/examples/chain/chain.toml";

process_result run_loom(std::vector<std::string> args,
                    std::optional<std::chrono::milliseconds> signal_after = {}) {
  args.insert(args.begin(), loom_bin);
  return run_process(args, signal_after);
}

pt::ptree stats_of(const process_result& r) {
  std::istringstream in(r.last_line());
  pt::ptree tree;
  pt::read_json(in, tree);
  return tree;
}

std::string write_graph(const std::string& name, const std::string& body) {
  auto path = std::filesystem::temp_directory_path() / (name + "-" + std::to_string(getpid()) + ".toml");
  std::ofstream(path) << "[graph]\nname = \"" << name << "\"\nversion = 1\n" << body;
  return path.string();
}

}  // namespace

BOOST_AUTO_TEST_CASE(run_prints_the_stats_contract_as_json) {
  auto r = run_loom({"run", chain, "--stats", "json"});
  BOOST_TEST_REQUIRE(r.exit_code == 0, r.err);
  auto s = stats_of(r);
  BOOST_TEST(s.get<std::string>("graph") == "chain");
  BOOST_TEST(s.get<double>("seconds") > 0.0);
  BOOST_TEST(s.get<std::string>("stages.hop.type") == "passthrough");
  BOOST_TEST(s.get<std::string>("stages.hop.device") == "cpu");
  BOOST_TEST(s.get<int>("stages.hop.packets_in") == 100000);
  BOOST_TEST(s.get<int>("stages.hop.packets_out") == 100000);
  BOOST_TEST(s.get<int>("stages.hop.dropped") == 0);
  BOOST_TEST(s.get<int>("stages.hop.errors") == 0);
  BOOST_TEST(!s.get_child("stages.hop.cpus").empty());
  BOOST_TEST(s.get<int>("sinks.sink.packets") == 100000);
  BOOST_TEST(s.get<long>("sinks.sink.bytes") == 1600000);
  BOOST_TEST(s.get<double>("sinks.sink.latency_us.p99") >= s.get<double>("sinks.sink.latency_us.p50"));
  BOOST_TEST(s.get<long>("bytes_copied") == 0);
  BOOST_TEST(s.get<long>("peak_rss_bytes") > 0);
}

BOOST_AUTO_TEST_CASE(set_overrides_a_parameter) {
  auto r = run_loom({"run", chain, "--stats", "json", "--set", "src.count=25", "--set", "src.shape=[2,4]"});
  BOOST_TEST_REQUIRE(r.exit_code == 0, r.err);
  auto s = stats_of(r);
  BOOST_TEST(s.get<int>("sinks.sink.packets") == 25);
  BOOST_TEST(s.get<int>("sinks.sink.bytes") == 25 * 8);
}

BOOST_AUTO_TEST_CASE(run_without_json_prints_a_readable_summary) {
  auto r = run_loom({"run", chain, "--set", "src.count=10"});
  BOOST_TEST_REQUIRE(r.exit_code == 0, r.err);
  BOOST_TEST(r.out.find("graph 'chain' ran") != std::string::npos);
  BOOST_TEST(r.out.find("sink sink: 10 packets") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(an_invalid_graph_exits_2_with_positions) {
  auto bad = write_graph("bad", "[stages.src]\ntype = \"synthetic_sorce\"\n");
  for (const char* command : {"run", "check", "graph"}) {
    auto r = run_loom({command, bad});
    BOOST_TEST(r.exit_code == 2);
    BOOST_TEST(r.err.find(bad + ":5:8: error: unknown stage type 'synthetic_sorce'") == 0, r.err);
    BOOST_TEST(r.out.empty());
  }
}

BOOST_AUTO_TEST_CASE(check_and_graph_accept_a_valid_file) {
  auto r = run_loom({"check", chain});
  BOOST_TEST(r.exit_code == 0);
  BOOST_TEST(r.out == chain + ": ok, graph 'chain': 3 stages, 2 edges\n");
  auto dot = run_loom({"graph", chain});
  BOOST_TEST(dot.exit_code == 0);
  BOOST_TEST(dot.out.rfind("digraph", 0) == 0u);
  BOOST_TEST(dot.out.find("\"hop\" -> \"sink\"") != std::string::npos, dot.out);
}

BOOST_AUTO_TEST_CASE(stages_lists_and_describes_types) {
  auto list = run_loom({"stages"});
  BOOST_TEST(list.exit_code == 0);
  for (const char* type : {"synthetic_source", "passthrough", "null_sink"})
    BOOST_TEST(list.out.find(type) != std::string::npos);
  auto one = run_loom({"stages", "passthrough"});
  BOOST_TEST(one.exit_code == 0);
  BOOST_TEST(one.out.find("work_us") != std::string::npos);
  BOOST_TEST(one.out.find("default 0") != std::string::npos);
  BOOST_TEST(one.out.find("placement, replicas, inputs, on_error, restart, batch") !=
             std::string::npos);
  BOOST_TEST(one.out.find("passthrough does not take batches") != std::string::npos);
  auto batching = run_loom({"stages", "matmul"});
  BOOST_TEST(batching.exit_code == 0, batching.err);
  BOOST_TEST(batching.out.find("matmul takes batches") != std::string::npos);
  auto none = run_loom({"stages", "no_such"});
  BOOST_TEST(none.exit_code == 2);
  BOOST_TEST(none.err.find("no stage type 'no_such'") != std::string::npos);
  auto plugin = run_loom({"stages", "test_faulty", "--plugin",
                      std::string(LOOM_BINARY_DIR) + "/tests/plugins/libgood_plugin.so"});
  BOOST_TEST(plugin.exit_code == 0, plugin.err);
  BOOST_TEST(plugin.out.find("fail_every") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(help_and_version_teach) {
  auto help = run_loom({"run", "--help"});
  BOOST_TEST(help.exit_code == 0);
  BOOST_TEST(help.out.find("--stats") != std::string::npos);
  BOOST_TEST(help.out.find("--set") != std::string::npos);
  auto top = run_loom({"--help"});
  BOOST_TEST(top.out.find("Exit status") != std::string::npos);
  auto version = run_loom({"version"});
  BOOST_TEST(version.exit_code == 0);
  BOOST_TEST(version.out.rfind("loom ", 0) == 0u);
  auto nothing = run_loom({});
  BOOST_TEST(nothing.exit_code == 2);
}

BOOST_AUTO_TEST_CASE(a_failing_stage_exits_1_and_still_prints_stats) {
  auto graph = write_graph("failing", "[plugins]\npaths = [\"" + std::string(LOOM_BINARY_DIR) +
                                          "/tests/plugins/libgood_plugin.so\"]\n" + R"(
[stages.src]
type = "synthetic_source"
count = 1000
[stages.f]
type = "test_faulty"
fail_every = 3
on_error = "fail"
inputs.in = "src.out"
[stages.sink]
type = "null_sink"
inputs.in = "f.out"
)");
  auto r = run_loom({"run", graph, "--stats", "json"});
  BOOST_TEST(r.exit_code == 1);
  BOOST_TEST(r.err.find("loom: error: stage 'f' (test_faulty) failed and on_error = \"fail\"") !=
                 std::string::npos,
             r.err);
  BOOST_TEST(stats_of(r).get<std::string>("graph") == "failing");
}

BOOST_AUTO_TEST_CASE(sigint_stops_the_sources_drains_and_prints_stats) {
  auto graph = write_graph("endless", R"(
[stages.src]
type = "synthetic_source"
count = 100000000
rate_hz = 5000
[stages.hop]
type = "passthrough"
work_us = 50
inputs.in = "src.out"
[stages.sink]
type = "null_sink"
delay_us = 100
inputs.in = { from = "hop.out", capacity = 16 }
)");
  auto r = run_loom({"run", graph, "--stats", "json"}, std::chrono::milliseconds(800));
  BOOST_TEST(r.exit_code == 130, r.err);
  BOOST_TEST(r.err.find("stopping: sources end now") != std::string::npos, r.err);
  auto s = stats_of(r);
  auto produced = s.get<long>("stages.src.packets_out");
  BOOST_TEST(produced > 100);
  BOOST_TEST(s.get<long>("sinks.sink.packets") == produced);
}

// Two graphs, each run by its own `loom run`, joined by a zmq_sink → zmq_source edge: a
// producing service and a consuming one. Neither is the other's deployment, so neither may
// refuse the other for running a different graph file.
BOOST_AUTO_TEST_CASE(two_graphs_run_apart_meet_over_a_zmq_edge) {
  const auto endpoint = "ipc://" + (std::filesystem::temp_directory_path() /
                                    ("loom-cli-edge-" + std::to_string(getpid()))).string();
  auto consumer = write_graph("consumer", R"(
[stages.in]
type = "zmq_source"
endpoint = ")" + endpoint + R"("
senders = 1
[stages.sink]
type = "null_sink"
inputs.in = "in.out"
)");
  auto producer = write_graph("producer", R"(
[stages.src]
type = "synthetic_source"
count = 300
shape = [64]
dtype = "f32"
[stages.out]
type = "zmq_sink"
endpoint = ")" + endpoint + R"("
bind = false
inputs.in = "src.out"
)");
  // A consumer that never hears a bye would wait for ever: timeout(1) ends it (exit 124).
  auto consuming = std::async(std::launch::async, [&] {
    return run_process({"/usr/bin/timeout", "30", loom_bin, "run", consumer, "--insecure",
                        "--stats", "json"});
  });
  auto produced = run_loom({"run", producer, "--insecure", "--stats", "json"});
  auto consumed = consuming.get();
  BOOST_TEST_REQUIRE(produced.exit_code == 0, produced.err);
  BOOST_TEST_REQUIRE(consumed.exit_code == 0, consumed.err);
  BOOST_TEST(produced.err.find("refus") == std::string::npos, produced.err);
  BOOST_TEST(stats_of(produced).get<int>("stages.out.packets_in") == 300);
  BOOST_TEST(stats_of(consumed).get<int>("sinks.sink.packets") == 300);
  BOOST_TEST(stats_of(consumed).get<long>("sinks.sink.bytes") == 300 * 64 * 4);
}
