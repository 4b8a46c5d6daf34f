// Devices in graph files and what the planner makes of them: device tables checked against
// their kind's keys, stage types refused on device kinds they cannot use, memory that does not
// fit, transfers marked on every edge that crosses memory spaces, `placement = "auto"` choosing
// as the cost model says, and the plan `loom plan` prints. Uses the emu device plugin built
// beside libloom.
#include <boost/test/unit_test.hpp>

#include <fmt/format.h>

#include "graphs/cost_model.hpp"
#include "graphs/load.hpp"
#include "graphs/plan.hpp"
#include "process.hpp"

using namespace loom;

namespace {

// Graphs point into the registry they were loaded with: it outlives them all.
load_result load(const std::string& text) {
  static auto registry = stage_registry::with_builtins();
  return load_graph_text(text, "test.toml", {}, registry);
}

std::string errors_of(const load_result& result) {
  std::string out;
  for (const auto& d : result.errors) out += format(d) + "\n";
  return out;
}

// src (cpu) -> project (matmul) -> sink (cpu); `project_table` is the matmul's placement lines.
std::string offload_graph(const std::string& npu_table, const std::string& project_lines) {
  return fmt::format(R"([graph]
name = "offload"
version = 1

[devices.npu0]
kind = "emu"
{}

[stages.src]
type = "synthetic_source"
count = 4
shape = [256, 1024]
dtype = "f32"

[stages.project]
type = "matmul"
k = 1024
n = 1024
{}
inputs.in = "src.out"

[stages.sink]
type = "null_sink"
inputs.in = "project.out"
)",
                     npu_table, project_lines);
}

const stage_def& stage_named(const graph_def& graph, const std::string& name) {
  return *graph.find(name);
}

}  // namespace

BOOST_AUTO_TEST_CASE(device_tables_are_checked_against_their_kind) {
  auto result = load(offload_graph("memroy = \"1GiB\"\ncost_per_hour = -1", ""));
  BOOST_TEST(errors_of(result) ==
             "test.toml:7:1: error: unknown key 'memroy' for device 'npu0' (emu); did you "
             "mean 'memory'?\n"
             "test.toml:8:17: error: 'cost_per_hour' of device 'npu0' must not be negative, not "
             "-1\n");
}

BOOST_AUTO_TEST_CASE(a_stage_type_is_refused_on_a_device_kind_it_cannot_use) {
  auto text = offload_graph("", "device = \"npu0\"");
  text.replace(text.find("dtype = \"f32\""), 13, "dtype = \"f32\"\ndevice = \"npu0\"");
  auto result = load(text);
  BOOST_TEST(errors_of(result) ==
             "test.toml:14:10: error: stage 'src' (synthetic_source) cannot run on device "
             "'npu0': its type works on cpu devices, and 'npu0' is emu\n");
}

BOOST_AUTO_TEST_CASE(every_edge_between_memory_spaces_is_a_planned_transfer) {
  auto result = load(offload_graph("", "device = \"npu0\""));
  BOOST_REQUIRE_MESSAGE(result.graph, errors_of(result));
  const auto& graph = *result.graph;
  BOOST_TEST(graph.devices.at("npu0").caps.memory_space == "emu:npu0");
  BOOST_TEST(stage_named(graph, "project").inputs.at(0).transfer);
  BOOST_TEST(stage_named(graph, "sink").inputs.at(0).transfer);

  auto same_space = load(offload_graph("", ""));
  BOOST_REQUIRE(same_space.graph);
  BOOST_TEST(!stage_named(*same_space.graph, "project").inputs.at(0).transfer);
  BOOST_TEST(!stage_named(*same_space.graph, "sink").inputs.at(0).transfer);
}

BOOST_AUTO_TEST_CASE(weights_that_do_not_fit_a_device_are_an_error_at_check_time) {
  // 1024 × 1024 f32 weights are 4 MiB.
  auto result = load(offload_graph("memory = \"3MiB\"", "device = \"npu0\""));
  BOOST_TEST(errors_of(result) ==
             "test.toml:19:10: error: stage 'project' needs 4194304 bytes (4.0 MiB) of device "
             "'npu0' memory for what it keeps resident, but only 3145728 bytes (3.0 MiB) of its "
             "3.0 MiB are free; place it elsewhere or give 'npu0' more memory\n");
}

BOOST_AUTO_TEST_CASE(auto_placement_follows_the_cost_model) {
  // 2 × 256 × 1024 × 1024 flops: 0.13 ms at 4 TFLOP/s on npu0 plus two 1 MiB transfers at
  // 20 GB/s, against milliseconds on this machine's cores.
  auto result = load(offload_graph("tflops = 4.0\nbandwidth = \"20GB/s\"", "placement = \"auto\""));
  BOOST_REQUIRE_MESSAGE(result.graph, errors_of(result));
  const auto& project = stage_named(*result.graph, "project");
  BOOST_TEST(project.device == "npu0");
  BOOST_TEST(project.auto_placed);
  BOOST_TEST(project.placement_reason.find("other devices: cpu") != std::string::npos,
             project.placement_reason);

  const auto& npu = result.graph->devices.at("npu0").caps;
  const auto& cpu = result.graph->devices.at("cpu").caps;
  const double megabyte = 256 * 1024 * 4;
  const double on_npu = compute_seconds(project.cost, project.input_types[0], npu) +
                        2 * transfer_seconds(static_cast<std::size_t>(megabyte), cpu, npu);
  BOOST_TEST(project.placement_reason.find(fmt::format("{:.3f} ms per packet", on_npu * 1e3)) == 0,
             project.placement_reason);
}

BOOST_AUTO_TEST_CASE(auto_placement_keeps_cheap_stages_where_their_data_is) {
  // A passthrough computes nothing: moving its packets to npu0 and back could only cost.
  auto result = load(R"([graph]
name = "cheap"
version = 1
placement = "auto"

[devices.npu0]
kind = "emu"

[stages.src]
type = "synthetic_source"
device = "cpu"
shape = [1024]

[stages.hop]
type = "passthrough"
inputs.in = "src.out"

[stages.sink]
type = "null_sink"
inputs.in = "hop.out"
)");
  BOOST_REQUIRE_MESSAGE(result.graph, errors_of(result));
  BOOST_TEST(stage_named(*result.graph, "hop").device == "cpu");
  BOOST_TEST(stage_named(*result.graph, "sink").device == "cpu");
  BOOST_TEST(!stage_named(*result.graph, "src").auto_placed);
}

BOOST_AUTO_TEST_CASE(auto_placement_skips_devices_too_small_and_says_so) {
  auto result = load(offload_graph("memory = \"1MiB\"\ntflops = 100.0", "placement = \"auto\""));
  BOOST_REQUIRE_MESSAGE(result.graph, errors_of(result));
  const auto& project = stage_named(*result.graph, "project");
  BOOST_TEST(project.device == "cpu");
  BOOST_TEST(project.placement_reason.find("npu0: cannot hold 4.0 MiB (1.0 MiB free)") !=
                 std::string::npos,
             project.placement_reason);
}

BOOST_AUTO_TEST_CASE(device_and_auto_placement_together_are_refused) {
  auto result = load(offload_graph("", "device = \"npu0\"\nplacement = \"auto\""));
  BOOST_TEST(errors_of(result) ==
             "test.toml:20:13: error: stage 'project' sets both 'device' and placement = \"auto\"; "
             "keep 'device' to pin it, or remove it to let the planner choose\n");
}

BOOST_AUTO_TEST_CASE(the_plan_shows_placement_transfers_memory_and_the_bottleneck) {
  auto result = load(offload_graph("memory = \"64MiB\"", "device = \"npu0\""));
  BOOST_REQUIRE(result.graph);
  auto plan = plan_graph(*result.graph);
  BOOST_TEST(plan.bottleneck == "project");
  BOOST_REQUIRE(plan.transfers.size() == 2u);
  BOOST_TEST(plan.transfers[0].from == "src.out");
  BOOST_TEST(plan.transfers[0].route == "host to device");
  BOOST_TEST(plan.transfers[0].bytes_per_packet == 256u * 1024 * 4);
  BOOST_TEST(plan.transfers[1].route == "device to host");
  bool found = false;
  for (const auto& d : plan.devices)
    if (d.name == "npu0") {
      found = true;
      BOOST_TEST(d.resident_bytes == 4u << 20);
      BOOST_TEST(d.memory_total == 64u << 20);
      // project's output edge: capacity 64 × 1 MiB, queued in npu0's memory.
      BOOST_TEST(d.channel_bytes == 64u << 20);
    }
  BOOST_TEST(found);
  auto text = to_text(plan);
  BOOST_TEST(text.find("src.out -> project.in  cpu -> npu0, host to device, 1.0 MiB per packet") !=
                 std::string::npos,
             text);
  BOOST_TEST(text.find("bottleneck: project") != std::string::npos, text);
  auto json = to_json(plan);
  BOOST_TEST(json.find("\"bottleneck\": \"project\"") != std::string::npos, json);
}

BOOST_AUTO_TEST_CASE(loom_plan_prints_the_plan_and_refuses_invalid_graphs) {
  auto example = std::string(LOOM_SOURCE_DIR) + "/examples/devices/offload.toml";
  auto ok = test::run_process({LOOM_EXECUTABLE, "plan", example});
  BOOST_TEST(ok.exit_code == 0, ok.err);
  BOOST_TEST(ok.out.find("placement auto: ") != std::string::npos, ok.out);
  BOOST_TEST(ok.out.find("bottleneck: ") != std::string::npos, ok.out);
  auto json = test::run_process({LOOM_EXECUTABLE, "plan", example, "--json"});
  BOOST_TEST(json.exit_code == 0, json.err);
  BOOST_TEST(json.out.rfind("{\"graph\": \"offload\"", 0) == 0, json.out);
  auto bad = test::run_process({LOOM_EXECUTABLE, "plan", example, "--set", "project.k=-1"});
  BOOST_TEST(bad.exit_code == 2);
}
