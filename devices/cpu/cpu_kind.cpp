// The `cpu` device kind (see cpu_kind.hpp):
//
//   [devices.fast]
//   kind = "cpu"
//   cores = [2, 3]      # its stages' threads run on CPUs 2 and 3 only
//   gflops = 120        # optional: the planner's throughput estimate, when 30 per core is wrong
#include "devices/cpu/cpu_kind.hpp"

#include <algorithm>
#include <map>
#include <stdexcept>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "devices/cpu/cpu_device.hpp"
#include "devices/cpu_affinity.hpp"

namespace loom {
namespace {

// A planner's estimate of one core's f32 matrix-product throughput (AVX2 FMA at ~2 GHz, about
// half of peak as OpenBLAS reaches on mid-sized products).
constexpr double flops_per_core = 30e9;

std::string plural(std::size_t count, const std::string& one, const std::string& many) {
  return fmt::format("{} {}", count, count == 1 ? one : many);
}

std::string cache_name(int level) { return level == 1 ? "L1d" : fmt::format("L{}", level); }

bool one_per_core(const cpu_topology& topology, const std::vector<cpu_cache>& caches) {
  return caches.size() == topology.cores.size() &&
         std::all_of(caches.begin(), caches.end(), [&](const cpu_cache& cache) {
           return std::any_of(topology.cores.begin(), topology.cores.end(),
                              [&](const cpu_core& core) { return core.cpus == cache.cpus; });
         });
}

// "32 MiB", "2 × 1 MiB", "2 × 1 MiB + 4 MiB" (hybrid parts mix sizes on one level).
std::string sizes_text(const std::vector<cpu_cache>& caches) {
  std::map<std::size_t, std::size_t> sizes;
  for (const auto& cache : caches) ++sizes[cache.bytes];
  std::vector<std::string> parts;
  for (const auto& [bytes, count] : sizes)
    parts.push_back(count > 1 ? fmt::format("{} × {}", count, byte_size(bytes)) : byte_size(bytes));
  return fmt::format("{}", fmt::join(parts, " + "));
}

// "L2 2 × 1 MiB, one per core" or "L3 2 × 32 MiB, shared by CPUs 0-7 | 8-15".
std::string cache_line(const cpu_topology& topology, int level,
                       const std::vector<cpu_cache>& caches) {
  if (one_per_core(topology, caches))
    return fmt::format("{} {}, one per core", cache_name(level), sizes_text(caches));
  std::vector<std::string> groups;
  for (const auto& cache : caches) groups.push_back(cpu_list(cache.cpus));
  return fmt::format("{} {}, shared by CPUs {}", cache_name(level), sizes_text(caches),
                     fmt::join(groups, " | "));
}

std::vector<int> unusable(const std::vector<int>& cores) {
  auto usable = usable_cpus();
  std::vector<int> out;
  for (int core : cores)
    if (std::find(usable.begin(), usable.end(), core) == usable.end()) out.push_back(core);
  return out;
}

double gflops_of(const param_values& values) {
  return values.has("gflops") ? values.number("gflops") : 0.0;
}

const cpu_topology& topology_for(const std::vector<int>& cores) {
  static const cpu_topology none;
  return cores.empty() ? none : machine_topology();
}

}  // namespace

device_caps cpu_caps(const std::vector<int>& cores, double gflops, const cpu_topology& topology) {
  device_caps caps;
  caps.cores = cores;
  // bf16 and f16 are widened to f32 (cpu_gemm.cpp), so they run no faster: reduced_flops stays 0.
  caps.compute_dtypes = {dtype::f32, dtype::bf16, dtype::f16};
  auto count = cores.empty() ? usable_cpus().size() : cores.size();
  caps.flops = gflops > 0 ? gflops * 1e9 : flops_per_core * static_cast<double>(count);
  if (auto node = numa_node_for(topology, cores)) {
    caps.numa_node = *node;
    for (const auto& n : topology.numa_nodes)
      if (n.index == *node) caps.memory_total = n.memory_bytes;
  }
  return caps;
}

detected_device describe_machine(const cpu_topology& topology) {
  detected_device machine;
  machine.name = "cpu";
  machine.caps = cpu_caps({}, 0, topology);

  std::vector<std::string> parts{plural(topology.packages.size(), "package", "packages"),
                                 plural(topology.cores.size(), "core", "cores"),
                                 plural(topology.cpus.size(), "PU", "PUs")};
  std::map<int, std::vector<cpu_cache>> levels;
  for (const auto& cache : topology.caches) levels[cache.level].push_back(cache);
  if (!levels.empty()) {
    const auto& [last_level, caches] = *levels.rbegin();
    parts.push_back(fmt::format("{} {}", cache_name(last_level), sizes_text(caches)));
  }
  std::size_t memory = 0;
  for (const auto& node : topology.numa_nodes) memory += node.memory_bytes;
  parts.push_back(fmt::format("{} {}",
                              plural(topology.numa_nodes.size(), "NUMA node", "NUMA nodes"),
                              byte_size(memory)));
  machine.description = fmt::format("{}", fmt::join(parts, ", "));

  for (const auto& package : topology.packages)
    machine.details.push_back(fmt::format(
        "package {}: {}{}, CPUs {}", package.index,
        package.model.empty() ? "" : package.model + ", ",
        plural(static_cast<std::size_t>(package.cores), "core", "cores"), cpu_list(package.cpus)));
  for (const auto& [level, caches] : levels)
    machine.details.push_back(cache_line(topology, level, caches));
  for (const auto& node : topology.numa_nodes)
    machine.details.push_back(
        fmt::format("NUMA node {}: {}, {}", node.index, byte_size(node.memory_bytes),
                    node.cpus.empty() ? "no CPUs" : "CPUs " + cpu_list(node.cpus)));
  return machine;
}

device_kind cpu_device_kind() {
  device_kind kind;
  kind.kind = "cpu";
  kind.summary = "host memory; stages' threads pinned to `cores`; OpenBLAS matrix products";
  kind.params = {number_param("gflops", 0.0,
                              "f32 matrix-product throughput the planner assumes, in GFLOP/s "
                              "(0: 30 per core)",
                              0.0)};
  kind.describe = [](const std::string&, const param_values& values,
                     const std::vector<int>& cores) {
    return cpu_caps(cores, gflops_of(values), topology_for(cores));
  };
  kind.open = [](const std::string& name, const param_values& values,
                 const std::vector<int>& cores) {
    if (auto missing = unusable(cores); !missing.empty())
      throw std::runtime_error(fmt::format(
          "device '{}' cannot run on CPUs {}: this process may use CPUs {}", name,
          cpu_list(missing), cpu_list(usable_cpus())));
    return std::make_unique<cpu_device>(name, cores,
                                        cpu_caps(cores, gflops_of(values), topology_for(cores)));
  };
  kind.detect = [] { return std::vector<detected_device>{describe_machine(machine_topology())}; };
  return kind;
}

}  // namespace loom
