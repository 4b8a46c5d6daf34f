#include "devices/cpu/cpu_kind.hpp"

#include "devices/cpu/cpu_device.hpp"
#include "devices/cpu_affinity.hpp"

namespace loom {
namespace {

// A planner's estimate of one core's f32 matrix-product throughput (AVX2 FMA at ~2 GHz, about
// half of peak as OpenBLAS reaches on mid-sized products).
constexpr double flops_per_core = 30e9;

device_caps describe_cpu(const std::vector<int>& cores) {
  device_caps caps;
  caps.cores = cores;
  caps.compute_dtypes = {dtype::f32};
  auto count = cores.empty() ? usable_cpus().size() : cores.size();
  caps.flops = flops_per_core * static_cast<double>(count);
  return caps;
}

}  // namespace

device_kind cpu_device_kind() {
  device_kind kind;
  kind.kind = "cpu";
  kind.summary = "host memory; stages' threads pinned to `cores`; OpenBLAS matrix products";
  kind.describe = [](const std::string&, const param_values&) { return describe_cpu({}); };
  kind.open = [](const std::string& name, const param_values&, const std::vector<int>& cores) {
    return std::make_unique<cpu_device>(name, cores, describe_cpu(cores));
  };
  kind.detect = [] {
    auto caps = describe_cpu({});
    return std::vector<detected_device>{
        {"cpu", std::to_string(usable_cpus().size()) + " usable CPUs", caps, {}}};
  };
  return kind;
}

}  // namespace loom
