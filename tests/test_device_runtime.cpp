// Running on several devices: tensors cross to the emulated NPU and back on the planned
// transfers, with every byte counted on its edge; a matrix product computed there matches the
// host's; a tensor left in the wrong memory space is an error naming the stage, port and spaces;
// a device out of memory mid-run fails packets, not the process; a device that cannot be opened
// fails the run before any data moves; costs and energy per output come from busy time.
#include <boost/test/unit_test.hpp>

#include <cmath>
#include <mutex>

#include <fmt/format.h>

#include "devices/transfer.hpp"
#include "runtime_fixture.hpp"

using namespace loom;

namespace {

// Keeps what reaches it, for the test to look at after the run.
struct collected {
  std::mutex mutex;
  std::vector<tensor> tensors;
};

class collector final : public stage {
 public:
  explicit collector(std::shared_ptr<collected> into) : into_(std::move(into)) {}
  void process(stage_context& ctx) override {
    std::lock_guard lock(into_->mutex);
    into_->tensors.push_back(ctx.input().at("data"));
  }

 private:
  std::shared_ptr<collected> into_;
};

// Emits a host tensor although it runs on another device: the mistake the runtime must catch.
class host_emitter final : public stage {
 public:
  void process(stage_context& ctx) override {
    packet p = ctx.input().derive();
    p.tensors.push_back({"data", tensor::zeros(dtype::f32, {4})});
    ctx.emit("out", std::move(p));
  }
};

stage_registry registry_with(std::shared_ptr<collected> into) {
  auto registry = stage_registry::with_builtins();
  stage_spec sink;
  sink.type = "test_collector";
  sink.inputs = {{"in", "", {}}};
  sink.make = [into] { return std::make_unique<collector>(into); };
  registry.add(std::move(sink));
  stage_spec emitter;
  emitter.type = "test_host_emitter";
  emitter.inputs = {{"in", "", {}}};
  emitter.outputs = {{"out", "", {}}};
  emitter.device_kinds = {"emu"};
  emitter.make = [] { return std::make_unique<host_emitter>(); };
  registry.add(std::move(emitter));
  return registry;
}

const std::string devices = R"(
[devices.cpu]
kind = "cpu"
cost_per_hour = 0.36
watts = 40

[devices.npu0]
kind = "emu"
memory = "64MiB"
precision = "f32"
cost_per_hour = 3.6
watts = 100
)";

std::string graph(const std::string& stages) {
  return "[graph]\nname = \"devices\"\nversion = 1\n" + devices + stages;
}

}  // namespace

BOOST_AUTO_TEST_CASE(tensors_cross_to_the_npu_and_back_with_every_byte_counted) {
  auto into = std::make_shared<collected>();
  auto registry = registry_with(into);
  auto run = test::run_text(graph(R"(
[stages.src]
type = "synthetic_source"
count = 20
shape = [8, 64]
dtype = "f32"

[stages.project]
type = "matmul"
device = "npu0"
k = 64
n = 32
weights = "random:3"
inputs.in = "src.out"

[stages.sink]
type = "test_collector"
inputs.in = "project.out"
)"),
                            registry);
  const auto& stats = run.result.stats;
  BOOST_REQUIRE((run.result.status == run_result::outcome::completed));
  BOOST_TEST(stats.edges.at("src.out -> project.in").bytes_transferred == 20u * 8 * 64 * 4);
  BOOST_TEST(stats.edges.at("project.out -> sink.in").bytes_transferred == 20u * 8 * 32 * 4);
  BOOST_TEST(stats.bytes_copied == 20u * 8 * 64 * 4 + 20u * 8 * 32 * 4);
  BOOST_REQUIRE(into->tensors.size() == 20u);
  for (const auto& t : into->tensors) BOOST_TEST(t.device() == "cpu");
}

BOOST_AUTO_TEST_CASE(a_product_on_the_npu_matches_the_same_product_on_the_host) {
  auto into = std::make_shared<collected>();
  auto registry = registry_with(into);
  auto stages = [](const std::string& device) {
    return fmt::format(R"(
[stages.src]
type = "synthetic_source"
count = 1
shape = [4, 16]
dtype = "f32"

[stages.project]
type = "matmul"
device = "{}"
k = 16
n = 8
weights = "random:9"
inputs.in = "src.out"

[stages.sink]
type = "test_collector"
inputs.in = "project.out"
)",
                       device);
  };
  test::run_text(graph(stages("cpu")), registry);
  test::run_text(graph(stages("npu0")), registry);
  BOOST_REQUIRE(into->tensors.size() == 2u);
  const auto* host = into->tensors[0].data<float>();
  const auto* npu = into->tensors[1].data<float>();
  // The synthetic byte pattern holds some NaN and huge floats; compare where the host is finite.
  int compared = 0;
  for (int i = 0; i < 4 * 8; ++i) {
    if (!std::isfinite(host[i]) || std::fabs(host[i]) > 1e30f) continue;
    ++compared;
    BOOST_TEST(npu[i] == host[i], boost::test_tools::tolerance(1e-4f));
  }
  BOOST_TEST(compared > 0);
}

BOOST_AUTO_TEST_CASE(a_tensor_in_the_wrong_memory_space_is_an_error_naming_both_spaces) {
  auto into = std::make_shared<collected>();
  auto registry = registry_with(into);
  auto run = test::run_text(graph(R"(
[stages.src]
type = "synthetic_source"
count = 3
shape = [4]
dtype = "f32"

[stages.emit]
type = "test_host_emitter"
device = "npu0"
inputs.in = "src.out"

[stages.hop]
type = "passthrough"
device = "npu0"
inputs.in = "emit.out"

[stages.sink]
type = "null_sink"
inputs.in = "hop.out"
)"),
                            registry);
  BOOST_TEST(run.result.stats.stages.at("hop").errors == 3u);
  BOOST_TEST(run.result.stats.sinks.at("sink").packets == 0u);
  BOOST_REQUIRE(!run.log.empty());
  BOOST_TEST(run.log.front().find(
                 "stage 'hop' input 'in': tensor 'data' is in memory space 'cpu', but the stage "
                 "runs on device 'npu0' (memory space 'emu:npu0') and this edge has no planned "
                 "transfer") != std::string::npos,
             run.log.front());
}

BOOST_AUTO_TEST_CASE(a_device_out_of_memory_fails_the_packets_that_needed_it) {
  auto into = std::make_shared<collected>();
  auto registry = registry_with(into);
  // 1 MiB of weights fit in 2 MiB; each 1 MiB input moved there does not fit beside them.
  auto text = graph(R"(
[stages.src]
type = "synthetic_source"
count = 3
shape = [512, 512]
dtype = "f32"

[stages.project]
type = "matmul"
device = "npu0"
k = 512
n = 512
inputs.in = "src.out"

[stages.sink]
type = "null_sink"
inputs.in = "project.out"
)");
  text.replace(text.find("memory = \"64MiB\""), 16, "memory = \"2MiB\"");
  auto run = test::run_text(text, registry);
  BOOST_TEST(run.result.stats.stages.at("project").errors == 3u);
  BOOST_REQUIRE(!run.log.empty());
  BOOST_TEST(run.log.front().find("project") != std::string::npos, run.log.front());
  BOOST_TEST(run.log.front().find("device 'npu0' is out of memory: 1048576 bytes (1.0 MiB) "
                                  "wanted") != std::string::npos,
             run.log.front());
}

BOOST_AUTO_TEST_CASE(cost_and_energy_per_output_come_from_busy_time) {
  auto into = std::make_shared<collected>();
  auto registry = registry_with(into);
  auto run = test::run_text(graph(R"(
[stages.src]
type = "synthetic_source"
count = 50
shape = [64, 64]
dtype = "f32"

[stages.project]
type = "matmul"
device = "npu0"
k = 64
n = 64
inputs.in = "src.out"

[stages.sink]
type = "null_sink"
inputs.in = "project.out"
)"),
                            registry);
  const auto& stats = run.result.stats;
  const auto& sink = stats.sinks.at("sink");
  BOOST_REQUIRE(sink.cost_per_output.has_value());
  BOOST_REQUIRE(sink.energy_j_per_output.has_value());
  const double cpu_busy = stats.stages.at("src").busy_seconds + stats.stages.at("sink").busy_seconds;
  const double npu_busy = stats.stages.at("project").busy_seconds;
  BOOST_TEST(npu_busy > 0);
  BOOST_TEST(*sink.cost_per_output == (cpu_busy * 0.36 + npu_busy * 3.6) / 3600 / 50,
             boost::test_tools::tolerance(1e-9));
  BOOST_TEST(*sink.energy_j_per_output == (cpu_busy * 40 + npu_busy * 100) / 50,
             boost::test_tools::tolerance(1e-9));
  BOOST_TEST(*stats.devices.at("npu0").cost == npu_busy * 3.6 / 3600,
             boost::test_tools::tolerance(1e-9));
  BOOST_TEST(stats.devices.at("npu0").kind == "emu");
}

BOOST_AUTO_TEST_CASE(a_device_that_cannot_open_fails_the_run_before_data_moves) {
  auto into = std::make_shared<collected>();
  auto registry = registry_with(into);
  auto loaded = load_graph_text(R"([graph]
name = "nogpu"
version = 1

[devices.gpu]
kind = "cuda"
gpu = 63

[stages.src]
type = "synthetic_source"
count = 3

[stages.sink]
type = "null_sink"
device = "gpu"
inputs.in = "src.out"
)",
                                "test.toml", {}, registry);
  if (!loaded.graph) {
    BOOST_TEST_MESSAGE("this build has no cuda device kind; nothing to open");
    return;
  }
  auto result = run_graph(*loaded.graph);
  BOOST_TEST((result.status == run_result::outcome::failed));
  BOOST_REQUIRE(!result.failures.empty());
  BOOST_TEST(result.failures.front().find("device 'gpu' (cuda) could not be opened: ") == 0,
             result.failures.front());
  BOOST_TEST(result.stats.sinks.at("sink").packets == 0u);
}
