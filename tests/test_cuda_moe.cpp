// moe shards on cuda devices: the element-wise kernels every device offers (devices/device.hpp)
// on a GPU and on the host against plain loops written here; a device without them (emu) saying
// so; and the sharded layer with one shard on a GPU and one on the CPU against the dense
// reference of moe_reference.hpp, in f32 and bf16. Built only with the cuda backend; on a machine
// without a GPU the GPU cases are skipped, not failed. One case also times the layer of
// bench/bench_moe (1024 tokens, d_model 1024, d_ff 512, 16 experts) in one shard on the GPU and
// in one shard on one CPU core, for the log.
#include <boost/test/unit_test.hpp>

#include <chrono>
#include <cmath>
#include <map>

#include <fmt/format.h>

#include "devices/device_registry.hpp"
#include "devices/float_convert.hpp"
#include "devices/transfer.hpp"
#include "graphs/load.hpp"
#include "model_golden.hpp"
#include "moe_reference.hpp"
#include "runtime_fixture.hpp"
#include "stages/registry.hpp"

using namespace loom;

namespace {

const device_registry& devices() {
  static const device_registry standard = device_registry::standard();
  return standard;
}

stage_registry& stages() {
  static stage_registry r = stage_registry::with_builtins();
  return r;
}

std::size_t gpu_count() {
  static const std::size_t count =
      devices().find("cuda") ? devices().find("cuda")->detect().size() : 0;
  return count;
}

boost::test_tools::assertion_result has_gpu(boost::unit_test::test_unit_id) {
  boost::test_tools::assertion_result result(gpu_count() > 0);
  result.message() << "no CUDA GPU: skipped";
  return result;
}

// A device of `kind` with its defaults, some replaced, as the graph loader fills them in.
std::unique_ptr<device> open_device(const std::string& kind, const std::string& name,
                                    const std::map<std::string, param_value>& changes = {},
                                    const std::vector<int>& cores = {}) {
  const device_kind* found = devices().find(kind);
  BOOST_REQUIRE_MESSAGE(found, "no device kind " << kind);
  std::map<std::string, param_value, std::less<>> values;
  for (const auto& spec : found->params)
    if (spec.default_value) values[spec.key] = *spec.default_value;
  for (const auto& [key, value] : changes) values[key] = value;
  return found->open(name, param_values(std::move(values)), cores);
}

device& gpu() {
  static auto opened = open_device("cuda", "gpu");
  return *opened;
}

template <typename T>
buffer upload(device& dev, const std::vector<T>& values) {
  buffer b = dev.allocate(values.size() * sizeof(T));
  dev.copy_from_host(reinterpret_cast<const std::byte*>(values.data()), b.data(), b.size());
  return b;
}

template <typename T>
std::vector<T> download(device& dev, const buffer& b, std::size_t count) {
  std::vector<T> values(count);
  dev.copy_to_host(b.data(), reinterpret_cast<std::byte*>(values.data()), count * sizeof(T));
  dev.synchronize();
  return values;
}

template <typename T>
T* as(const buffer& b) {
  return reinterpret_cast<T*>(b.data());
}

// Runs one element-wise kernel on `dev` over copies of the host inputs and returns the output.
struct kernel_results {
  std::vector<float> gathered, swiglu, scaled, biased;
  std::vector<std::uint16_t> rounded;
};

constexpr std::int64_t rows = 37, cols = 70, ld = 75, picked = 23;

kernel_results run_kernels(device& dev, const std::vector<float>& x,
                           const std::vector<std::int32_t>& picks, const std::vector<float>& h,
                           const std::vector<float>& scale, const std::vector<float>& bias) {
  kernel_results out;
  auto x_dev = upload(dev, x), picks_dev = upload(dev, picks), scale_dev = upload(dev, scale),
       bias_dev = upload(dev, bias), h_dev = upload(dev, h), y_dev = upload(dev, x);
  buffer gathered = dev.allocate(picked * cols * sizeof(float));
  dev.gather_rows(as<float>(x_dev), ld, as<std::int32_t>(picks_dev), picked, cols,
                  as<float>(gathered));
  out.gathered = download<float>(dev, gathered, picked * cols);
  dev.swiglu_rows(as<float>(h_dev), rows, cols);
  out.swiglu = download<float>(dev, h_dev, h.size());
  buffer dense = upload(dev, std::vector<float>(x.begin(), x.begin() + rows * cols));
  dev.scale_rows(as<float>(dense), rows, cols, as<float>(scale_dev));
  out.scaled = download<float>(dev, dense, rows * cols);
  dev.add_row_bias(as<float>(y_dev), rows, cols, ld, as<float>(bias_dev));
  out.biased = download<float>(dev, y_dev, x.size());
  buffer rounded = dev.allocate(rows * cols * sizeof(std::uint16_t));
  dev.to_bf16(as<float>(x_dev), rows, cols, ld, as<std::uint16_t>(rounded));
  out.rounded = download<std::uint16_t>(dev, rounded, rows * cols);
  return out;
}

// Round to nearest even by the definition: the nearer of the two bf16 neighbours, the even one
// on a tie.
std::uint16_t nearest_bf16(float value) {
  std::uint32_t bits;
  std::memcpy(&bits, &value, sizeof bits);
  const std::uint32_t below = bits & 0xffff0000u, rest = bits & 0xffffu;
  const bool up = rest > 0x8000u || (rest == 0x8000u && ((below >> 16) & 1u));
  return static_cast<std::uint16_t>((below >> 16) + (up ? 1 : 0));
}

void check_kernels(device& dev) {
  auto x = test::random_rows(rows, ld, 1);
  x[3] = 1.0f + 0x1p-8f;  // a tie between two bf16 values: rounds to the even one, 1.0
  x[4] = 1.0f + 3 * 0x1p-8f;  // a tie that rounds up
  std::vector<std::int32_t> picks;
  for (std::int64_t i = 0; i < picked; ++i) picks.push_back(static_cast<std::int32_t>((i * 7) % rows));
  auto h = test::random_rows(rows, 2 * cols, 2);
  auto scale = test::random_rows(rows, 1, 3);
  auto bias = test::random_rows(1, cols, 4);
  const auto got = run_kernels(dev, x, picks, h, scale, bias);
  const auto tolerance = boost::test_tools::tolerance(1e-6f);
  for (std::int64_t r = 0; r < picked; ++r)
    for (std::int64_t c = 0; c < cols; ++c)
      BOOST_TEST(got.gathered[r * cols + c] == x[picks[r] * ld + c]);
  for (std::int64_t r = 0; r < rows; ++r)
    for (std::int64_t c = 0; c < 2 * cols; ++c) {
      const double g = h[r * 2 * cols + c], u = h[r * 2 * cols + cols + (c % cols)];
      const float expected = c < cols ? static_cast<float>(g / (1 + std::exp(-g)) * u)
                                      : h[r * 2 * cols + c];  // the up half as it was
      BOOST_TEST(got.swiglu[r * 2 * cols + c] == expected, boost::test_tools::tolerance(1e-5f));
    }
  for (std::int64_t r = 0; r < rows; ++r)
    for (std::int64_t c = 0; c < ld; ++c) {
      const std::int64_t i = r * ld + c;
      BOOST_TEST(got.biased[i] == (c < cols ? x[i] + bias[c] : x[i]), tolerance);
      if (c >= cols) continue;
      BOOST_TEST(got.scaled[r * cols + c] == x[r * cols + c] * scale[r], tolerance);
      BOOST_TEST(got.rounded[r * cols + c] == nearest_bf16(x[i]));
    }
  BOOST_TEST(got.rounded[3] == 0x3f80);
  BOOST_TEST(got.rounded[4] == 0x3f82);
}

std::string message_of(const std::function<void()>& call) {
  try {
    call();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "no error";
}

std::string moe_graph(const test::layer_shape& s, std::int64_t tokens, const std::string& shards) {
  return fmt::format(R"([graph]
name = "moe"
version = 1
[devices.gpu]
kind = "cuda"
[devices.left]
kind = "cpu"
[stages.src]
type = "synthetic_source"
shape = [{tokens}, {d}]
dtype = "f32"
[stages.layer]
type = "moe"
d_model = {d}
d_ff = {ff}
experts = {e}
top_k = {k}
shared_experts = {s}
dtype = "{dtype}"
weights = "random:5"
shards = {shards}
inputs.in = "src.out"
[stages.sink]
type = "null_sink"
inputs.in = "layer.out"
)", fmt::arg("tokens", tokens), fmt::arg("d", s.d), fmt::arg("ff", s.ff),
      fmt::arg("e", s.experts), fmt::arg("k", s.top_k), fmt::arg("s", s.shared),
      fmt::arg("dtype", s.dtype), fmt::arg("shards", shards));
}

// A packet's tensors moved from `from`'s memory into `to`'s, as the runtime moves them on an
// edge between memory spaces.
packet_ptr moved(const packet& p, device& from, device& to) {
  auto out = std::make_shared<packet>(p.derive());
  for (const auto& t : p.tensors) out->tensors.push_back({t.name, transfer(t.value, from, to)});
  return out;
}

struct part {
  std::unique_ptr<stage_context> ctx;
  std::unique_ptr<stage> instance;
};

// A part of the graph's moe stage, opened on `dev` (bound to this thread first).
part open_part(const graph_def& graph, const std::string& name, device& dev) {
  const auto* def = graph.find(name);
  BOOST_REQUIRE_MESSAGE(def != nullptr, "no stage " << name);
  part p{std::make_unique<stage_context>(def->name, *def->spec, def->values, def->device),
         def->spec->make()};
  p.ctx->set_device(dev);
  dev.bind_thread();
  p.instance->open(*p.ctx);
  return p;
}

// Router, each shard on the device its name maps to in `placed` (the host elsewhere), combiner;
// each shard's packet moved into its device's memory and its output back.
tensor run_layer(const graph_def& graph, const tensor& x, const std::map<std::string, device*>& placed) {
  auto router = open_part(graph, "layer/router", host_device());
  packet in;
  in.set("data", x);
  router.ctx->set_input(0, std::make_shared<const packet>(std::move(in)));
  router.instance->process(*router.ctx);
  auto routed = std::move(router.ctx->emitted());
  auto combiner = open_part(graph, "layer", host_device());
  for (auto& [port, routed_part] : routed) {
    const std::string name = "layer/shard" + std::to_string(port);
    device& dev = placed.count(name) ? *placed.at(name) : host_device();
    auto shard = open_part(graph, name, dev);
    shard.ctx->set_input(0, moved(*routed_part, host_device(), dev));
    shard.instance->process(*shard.ctx);
    BOOST_REQUIRE_EQUAL(shard.ctx->emitted().size(), 1u);
    const auto& out = *shard.ctx->emitted().front().second;
    for (const auto& t : out.tensors) BOOST_TEST(t.value.device() == dev.memory_space());
    combiner.ctx->set_input(port, moved(out, dev, host_device()));
  }
  host_device().bind_thread();
  combiner.instance->process(*combiner.ctx);
  BOOST_REQUIRE_EQUAL(combiner.ctx->emitted().size(), 1u);
  return combiner.ctx->emitted().front().second->at("data");
}

tensor host_tensor(const std::vector<float>& values, shape_t shape) {
  tensor t = host_device().allocate_tensor(dtype::f32, std::move(shape));
  std::copy(values.begin(), values.end(), t.data<float>());
  return t;
}

void check_layer_on_gpu_and_cpu(const std::string& type, double tolerance) {
  test::layer_shape s;
  s.d = 64, s.ff = 48, s.experts = 6, s.top_k = 2, s.shared = 1, s.dtype = type;
  const std::int64_t tokens = 41;
  auto x = test::random_rows(tokens, s.d, 11);
  const auto expected = test::reference_moe(x, tokens, s, "random:5");
  auto graph = test::load_text(
      moe_graph(s, tokens,
                R"([{ device = "gpu", experts = "0-3" }, { device = "left", experts = "4-5" }])"),
      stages());
  BOOST_TEST(graph.find("layer/shard0")->device == "gpu");
  tensor out = run_layer(graph, host_tensor(x, {tokens, s.d}), {{"layer/shard0", &gpu()}});
  BOOST_REQUIRE(out.shape() == (shape_t{tokens, s.d}));
  const double error =
      test::relative_rms_error(out, host_tensor(expected, {tokens, s.d}));
  BOOST_TEST_MESSAGE(type << ": relative RMS error against the reference " << error);
  BOOST_TEST(error <= tolerance);
  double worst = 0;
  for (std::size_t i = 0; i < expected.size(); ++i)
    worst = std::max(worst, std::abs(double(out.data<float>()[i]) - expected[i]));
  BOOST_TEST_MESSAGE(type << ": largest difference " << worst);
}

}  // namespace

BOOST_AUTO_TEST_CASE(a_device_without_the_kernels_says_which_and_where_they_run) {
  if (!devices().find("emu")) return;  // the plugin was not built beside libloom
  auto npu = open_device("emu", "npu0");
  const auto message = message_of([&] { npu->gather_rows(nullptr, 0, nullptr, 0, 0, nullptr); });
  BOOST_TEST(message ==
             "device 'npu0' (emu) has no gather_rows kernel; moe shards run on cpu and cuda devices");
}

BOOST_AUTO_TEST_CASE(the_host_kernels_match_plain_loops) { check_kernels(host_device()); }

BOOST_AUTO_TEST_CASE(the_gpu_kernels_match_plain_loops, *boost::unit_test::precondition(has_gpu)) {
  gpu().bind_thread();
  check_kernels(gpu());
}

BOOST_AUTO_TEST_CASE(a_shard_on_a_gpu_matches_the_dense_reference_f32,
                     *boost::unit_test::precondition(has_gpu)) {
  check_layer_on_gpu_and_cpu("f32", 1e-5);
}

BOOST_AUTO_TEST_CASE(a_shard_on_a_gpu_matches_the_dense_reference_bf16,
                     *boost::unit_test::precondition(has_gpu)) {
  check_layer_on_gpu_and_cpu("bf16", 1e-2);
}

// bench/bench_moe's layer, all 16 experts in one shard: on the GPU (input already in its memory,
// as the runtime's transfer leaves it) and on one pinned CPU core. Prints the times; checks only
// that both give the same result.
BOOST_AUTO_TEST_CASE(the_bench_layer_in_one_shard_on_the_gpu_and_on_one_core,
                     *boost::unit_test::precondition(has_gpu)) {
  test::layer_shape s;
  s.d = 1024, s.ff = 512, s.experts = 16, s.top_k = 2, s.shared = 1;
  const std::int64_t tokens = 1024;
  auto core = open_device("cpu", "core0", {}, {0});
  auto graph = test::load_text(
      moe_graph(s, tokens, R"([{ device = "gpu", experts = "0-15" }])"), stages());
  auto router = open_part(graph, "layer/router", host_device());
  packet in;
  in.set("data", host_tensor(test::random_rows(tokens, s.d, 7), {tokens, s.d}));
  router.ctx->set_input(0, std::make_shared<const packet>(std::move(in)));
  router.instance->process(*router.ctx);
  const packet routed = *router.ctx->emitted().front().second;
  std::map<std::string, double> ms;
  std::map<std::string, std::vector<float>> results;
  for (device* dev : {&gpu(), core.get()}) {
    auto shard = open_part(graph, "layer/shard0", *dev);
    auto input = moved(routed, host_device(), *dev);
    constexpr int runs = 5;
    double best = 1e30;
    for (int run = 0; run < runs + 1; ++run) {
      shard.ctx->set_input(0, input);
      shard.ctx->emitted().clear();
      const auto start = std::chrono::steady_clock::now();
      shard.instance->process(*shard.ctx);
      const std::chrono::duration<double, std::milli> took = std::chrono::steady_clock::now() - start;
      if (run > 0) best = std::min(best, took.count());  // the first run warms up
    }
    ms[dev->name()] = best;
    auto out = moved(*shard.ctx->emitted().front().second, *dev, host_device());
    const tensor& routed_rows = out->at("routed");
    results[dev->name()].assign(routed_rows.data<float>(),
                                routed_rows.data<float>() + routed_rows.numel());
  }
  const double flops = 6.0 * s.d * s.ff * tokens * (s.top_k + s.shared);
  BOOST_TEST_MESSAGE(fmt::format(
      "moe shard, T=1024 d_model=1024 d_ff=512, 16 experts top-2 + 1 shared, f32: GPU {:.2f} ms "
      "({:.0f} GFLOP/s), one CPU core {:.1f} ms ({:.0f} GFLOP/s): {:.0f}x",
      ms["gpu"], flops / ms["gpu"] / 1e6, ms["core0"], flops / ms["core0"] / 1e6,
      ms["core0"] / ms["gpu"]));
  const auto& a = results["gpu"];
  const auto& b = results["core0"];
  BOOST_REQUIRE_EQUAL(a.size(), b.size());
  double error = 0, norm = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    error += (double(a[i]) - b[i]) * (double(a[i]) - b[i]);
    norm += double(b[i]) * b[i];
  }
  BOOST_TEST(std::sqrt(error / norm) <= 1e-5);
}
