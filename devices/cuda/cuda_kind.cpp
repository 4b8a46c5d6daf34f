// The `cuda` device kind: one NVIDIA GPU per declared device.
//
//   [devices.gpu0]
//   kind = "cuda"
//   gpu = 0              # CUDA's index for it (after CUDA_VISIBLE_DEVICES)
//   memory = "60GiB"     # the most its stages may hold; "0": all of the GPU's memory
//   gflops = 0           # f32 matrix-product rate for the planner; 0: estimated from the GPU
//   copy_gbps = 0        # host <-> device bandwidth for the planner; 0: estimated
//
// Describing a declared GPU opens nothing, so `loom check` and `loom plan` work everywhere: where
// this machine has the GPU, its real figures; where it lacks it, those of an assumed H100 with
// the declared values on top. Opening one that is not there is an error naming the index and how
// many GPUs the machine has.
#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <stdexcept>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "devices/backend_registration.hpp"
#include "devices/cuda/cuda_device.hpp"
#include "devices/cuda/cuda_gpus.hpp"
#include "devices/device_registry.hpp"

namespace loom {
namespace {

constexpr double gib = 1024.0 * 1024.0 * 1024.0;

// What cuBLAS reaches of the peak rates below on large products: an H100 ran a bf16 product at
// 798 TFLOP/s where its formula gives 1070.
constexpr double reached_share = 0.8;

// A GPU this machine lacks is planned as an H100 SXM: 132 multiprocessors of compute capability
// 9.0 at 1.98 GHz, 81559 MiB.
gpu_info assumed_gpu(int index) {
  gpu_info gpu;
  gpu.index = index;
  gpu.model = "NVIDIA H100 (assumed: no such GPU here)";
  gpu.memory_bytes = 81559ull << 20;
  gpu.multiprocessors = 132;
  gpu.major = 9;
  gpu.minor = 0;
  gpu.clock_khz = 1980000;
  return gpu;
}

// The peak SM clock; where the driver would not say, 1.5 GHz, about a data-centre GPU's base.
double clock_hz(const gpu_info& gpu) {
  return (gpu.clock_khz > 0 ? gpu.clock_khz : 1500000) * 1e3;
}

// f32 lanes per multiprocessor: 64 on compute capability 6.0, 7.x and 8.0, 128 elsewhere.
double f32_flops(const gpu_info& gpu) {
  const bool narrow = (gpu.major == 6 && gpu.minor == 0) || gpu.major == 7 ||
                      (gpu.major == 8 && gpu.minor == 0);
  const double lanes = narrow ? 64 : 128;
  // An FMA counts as two operations.
  return gpu.multiprocessors * lanes * 2.0 * clock_hz(gpu) * reached_share;
}

// Dense bf16/f16 tensor-core operations per multiprocessor per clock, by generation; 0 where
// there are no tensor cores (the planner then uses the f32 rate).
double reduced_flops(const gpu_info& gpu) {
  double per_clock = 0;
  if (gpu.major == 7) per_clock = 1024;                          // Volta, Turing
  if (gpu.major == 8) per_clock = gpu.minor == 0 ? 2048 : 1024;  // A100; Ampere, Ada parts
  if (gpu.major == 9) per_clock = 4096;                          // Hopper
  if (gpu.major == 10) per_clock = 8192;                         // Blackwell data-centre parts
  if (gpu.major >= 11) per_clock = 1024;
  return gpu.multiprocessors * per_clock * clock_hz(gpu) * reached_share;
}

// Pinned host copies: about 50 GB/s on PCIe 5.0 x16 (Hopper and later), 25 GB/s on PCIe 4.0.
// The runtime does not report the link, so the generation stands in for it.
double copy_bytes_per_s(const gpu_info& gpu) { return gpu.major >= 9 ? 50e9 : 25e9; }

std::string lowercase(std::string_view text) {
  std::string lower(text);
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return lower;
}

std::string_view trim(std::string_view text) {
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.front())))
    text.remove_prefix(1);
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back())))
    text.remove_suffix(1);
  return text;
}

// "24GiB", "512 MiB", "80GB", "1.5GiB", "1073741824" (bytes); "0": no limit of its own.
std::size_t parse_memory(const std::string& device_name, const std::string& text) {
  const auto fail = [&]() -> std::size_t {
    throw std::invalid_argument(fmt::format(
        "device '{}': memory = \"{}\" is not a size: write bytes with a unit, as in \"24GiB\", "
        "\"512MiB\" or \"80GB\", or \"0\" for all of the GPU's memory",
        device_name, text));
  };
  const auto body = trim(text);
  double number = 0;
  const auto [end, error] = std::from_chars(body.data(), body.data() + body.size(), number);
  if (error != std::errc() || !(number >= 0)) return fail();
  const auto unit = lowercase(trim(std::string_view(end, body.data() + body.size() - end)));
  static constexpr std::pair<std::string_view, double> units[] = {
      {"", 1},       {"b", 1},       {"kb", 1e3},    {"mb", 1e6},    {"gb", 1e9},
      {"tb", 1e12},  {"kib", 0x1p10}, {"mib", 0x1p20}, {"gib", 0x1p30}, {"tib", 0x1p40}};
  for (const auto& [name, scale] : units) {
    if (unit != name) continue;
    const double bytes = std::round(number * scale);
    if (!(bytes < 0x1p62)) return fail();
    return static_cast<std::size_t>(bytes);
  }
  return fail();
}

std::int64_t gpu_index(const param_values& values) {
  return values.has("gpu") ? values.integer("gpu") : 0;
}

double declared_number(const param_values& values, std::string_view key) {
  return values.has(key) ? values.number(key) : 0.0;
}

device_caps describe_cuda(const std::string& name, const param_values& values,
                          const std::vector<int>& cores) {
  const auto limit = parse_memory(name, values.has("memory") ? values.string("memory") : "0");
  const auto index = gpu_index(values);
  const auto& gpus = cuda_gpus().gpus;
  const bool present = index >= 0 && static_cast<std::size_t>(index) < gpus.size();
  const gpu_info gpu = present ? gpus[static_cast<std::size_t>(index)]
                               : assumed_gpu(static_cast<int>(index));

  device_caps caps;
  caps.memory_space = fmt::format("cuda:{}", index);
  // A limit above what the card has would only postpone the error to the driver.
  caps.memory_total = limit == 0 ? gpu.memory_bytes
                                 : (present ? std::min(limit, gpu.memory_bytes) : limit);
  caps.async = true;
  caps.cores = cores;
  for (int peer : gpu.peers) caps.peers.push_back(fmt::format("cuda:{}", peer));
  caps.compute_dtypes = {dtype::f32, dtype::bf16, dtype::f16};
  const double gflops = declared_number(values, "gflops");
  const double copy_gbps = declared_number(values, "copy_gbps");
  caps.flops = gflops > 0 ? gflops * 1e9 : f32_flops(gpu);
  caps.reduced_flops = reduced_flops(gpu);
  caps.copy_bytes_per_s = copy_gbps > 0 ? copy_gbps * 1e9 : copy_bytes_per_s(gpu);
  return caps;
}

std::unique_ptr<device> open_cuda(const std::string& name, const param_values& values,
                                  const std::vector<int>& cores) {
  const auto index = gpu_index(values);
  const auto& inventory = cuda_gpus();
  const auto count = inventory.gpus.size();
  if (index < 0 || static_cast<std::size_t>(index) >= count)
    throw std::runtime_error(fmt::format(
        "device '{}': no CUDA GPU with index {} (this machine has {}){}", name, index, count,
        inventory.problem.empty() ? "" : "; " + inventory.problem));
  return std::make_unique<cuda_device>(name, static_cast<int>(index),
                                       describe_cuda(name, values, cores));
}

std::vector<detected_device> detect_cuda() {
  std::vector<detected_device> found;
  for (const auto& gpu : cuda_gpus().gpus) {
    param_values values({{"gpu", std::int64_t{gpu.index}}});
    detected_device detected;
    detected.name = fmt::format("cuda:{}", gpu.index);
    detected.caps = describe_cuda(detected.name, values, {});
    detected.description =
        fmt::format("{}, {:.1f} GiB, sm_{}{}, {} SMs", gpu.model,
                    static_cast<double>(gpu.memory_bytes) / gib, gpu.major, gpu.minor,
                    gpu.multiprocessors);
    detected.details.push_back(fmt::format(
        "{} MHz; estimates: f32 {:.1f} TFLOP/s, bf16/f16 {:.0f} TFLOP/s, host copies {:.0f} GB/s",
        gpu.clock_khz / 1000, detected.caps.flops / 1e12, detected.caps.reduced_flops / 1e12,
        detected.caps.copy_bytes_per_s / 1e9));
    if (!detected.caps.peers.empty())
      detected.details.push_back(fmt::format("peer access to {}",
                                             fmt::join(detected.caps.peers, ", ")));
    found.push_back(std::move(detected));
  }
  return found;
}

device_kind cuda_device_kind() {
  device_kind kind;
  kind.kind = "cuda";
  kind.summary =
      "an NVIDIA GPU: pooled device memory under a `memory` limit, a stream per executor thread, "
      "cuBLAS matrix products in f32, bf16 and f16";
  kind.params = {
      integer_param("gpu", 0, "CUDA's index of the GPU (after CUDA_VISIBLE_DEVICES)", 0),
      string_param("memory", "0",
                   "the most device memory its stages may hold, with a unit (\"24GiB\", "
                   "\"512MiB\", \"80GB\"); \"0\": all of the GPU's memory"),
      number_param("gflops", 0.0,
                   "f32 matrix-product rate for the planner, in GFLOP/s; 0: estimated from the "
                   "GPU's multiprocessors and clock",
                   0),
      number_param("copy_gbps", 0.0,
                   "host <-> device copy bandwidth for the planner, in GB/s; 0: estimated (50 "
                   "on Hopper and later, 25 before)",
                   0),
  };
  kind.describe = describe_cuda;
  kind.open = open_cuda;
  kind.detect = detect_cuda;
  return kind;
}

const backend_registration cuda_registration(
    [](device_registry& registry) { registry.add(cuda_device_kind()); });

}  // namespace
}  // namespace loom
