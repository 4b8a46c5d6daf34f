// Reads the CPU topology through hwloc into plain data (see topology.hpp).
#include "devices/cpu/topology.hpp"

#include <hwloc.h>

#include <algorithm>
#include <memory>
#include <stdexcept>

#include <fmt/format.h>

namespace loom {
namespace {

struct topology_deleter {
  void operator()(hwloc_topology* topology) const { hwloc_topology_destroy(topology); }
};
using topology_handle = std::unique_ptr<hwloc_topology, topology_deleter>;

topology_handle load_topology() {
  hwloc_topology_t raw = nullptr;
  if (hwloc_topology_init(&raw) != 0) throw std::runtime_error("hwloc cannot start");
  topology_handle topology(raw);
  // Only what this process may use: a container or `taskset` that hides CPUs hides them here
  // too, so a device never plans on cores it cannot be pinned to.
  hwloc_topology_set_flags(raw, HWLOC_TOPOLOGY_FLAG_RESTRICT_TO_CPUBINDING |
                                    HWLOC_TOPOLOGY_FLAG_RESTRICT_TO_MEMBINDING);
  if (hwloc_topology_load(raw) != 0)
    throw std::runtime_error("hwloc cannot read this machine's topology");
  return topology;
}

std::vector<int> cpus_of(hwloc_const_cpuset_t set) {
  std::vector<int> cpus;
  for (int cpu = hwloc_bitmap_first(set); cpu != -1; cpu = hwloc_bitmap_next(set, cpu))
    cpus.push_back(cpu);
  return cpus;
}

std::string trimmed(const char* text) {
  if (text == nullptr) return {};
  std::string s(text);
  auto end = s.find_last_not_of(" \t");
  auto begin = s.find_first_not_of(" \t");
  return end == std::string::npos ? std::string() : s.substr(begin, end - begin + 1);
}

int package_of(hwloc_topology_t topology, hwloc_obj_t object) {
  auto* package = hwloc_get_ancestor_obj_by_type(topology, HWLOC_OBJ_PACKAGE, object);
  return package == nullptr ? 0 : static_cast<int>(package->logical_index);
}

}  // namespace

cpu_topology read_cpu_topology() {
  auto handle = load_topology();
  auto* topology = handle.get();
  cpu_topology result;
  result.cpus = cpus_of(hwloc_topology_get_topology_cpuset(topology));

  for (int i = 0, n = hwloc_get_nbobjs_by_type(topology, HWLOC_OBJ_PACKAGE); i < n; ++i) {
    auto* object = hwloc_get_obj_by_type(topology, HWLOC_OBJ_PACKAGE, static_cast<unsigned>(i));
    result.packages.push_back(
        {i, trimmed(hwloc_obj_get_info_by_name(object, "CPUModel")), cpus_of(object->cpuset),
         hwloc_get_nbobjs_inside_cpuset_by_type(topology, object->cpuset, HWLOC_OBJ_CORE)});
  }
  for (int i = 0, n = hwloc_get_nbobjs_by_type(topology, HWLOC_OBJ_CORE); i < n; ++i) {
    auto* object = hwloc_get_obj_by_type(topology, HWLOC_OBJ_CORE, static_cast<unsigned>(i));
    result.cores.push_back({i, package_of(topology, object), cpus_of(object->cpuset)});
  }
  // The by-type cache levels hold data and unified caches; instruction caches have types of
  // their own (HWLOC_OBJ_L1ICACHE, ...).
  const hwloc_obj_type_t cache_types[] = {HWLOC_OBJ_L1CACHE, HWLOC_OBJ_L2CACHE, HWLOC_OBJ_L3CACHE};
  for (int level = 1; level <= 3; ++level) {
    auto type = cache_types[level - 1];
    for (int i = 0, n = hwloc_get_nbobjs_by_type(topology, type); i < n; ++i) {
      auto* object = hwloc_get_obj_by_type(topology, type, static_cast<unsigned>(i));
      result.caches.push_back(
          {level, static_cast<std::size_t>(object->attr->cache.size), cpus_of(object->cpuset)});
    }
  }
  for (int i = 0, n = hwloc_get_nbobjs_by_type(topology, HWLOC_OBJ_NUMANODE); i < n; ++i) {
    auto* object = hwloc_get_obj_by_type(topology, HWLOC_OBJ_NUMANODE, static_cast<unsigned>(i));
    result.numa_nodes.push_back({static_cast<int>(object->os_index),
                                 static_cast<std::size_t>(object->attr->numanode.local_memory),
                                 cpus_of(object->cpuset)});
  }
  return result;
}

const cpu_topology& machine_topology() {
  static const cpu_topology topology = read_cpu_topology();
  return topology;
}

std::optional<int> numa_node_for(const cpu_topology& topology, const std::vector<int>& cpus) {
  if (topology.numa_nodes.size() < 2 || cpus.empty()) return std::nullopt;
  for (const auto& node : topology.numa_nodes) {
    bool holds_all = std::all_of(cpus.begin(), cpus.end(), [&](int cpu) {
      return std::find(node.cpus.begin(), node.cpus.end(), cpu) != node.cpus.end();
    });
    if (holds_all) return node.index;
  }
  return std::nullopt;
}

std::string cpu_list(const std::vector<int>& cpus) {
  auto sorted = cpus;
  std::sort(sorted.begin(), sorted.end());
  std::string out;
  for (std::size_t i = 0; i < sorted.size();) {
    std::size_t j = i;
    while (j + 1 < sorted.size() && sorted[j + 1] == sorted[j] + 1) ++j;
    if (!out.empty()) out += ',';
    out += j == i ? fmt::format("{}", sorted[i]) : fmt::format("{}-{}", sorted[i], sorted[j]);
    i = j + 1;
  }
  return out;
}

std::string byte_size(std::size_t bytes) {
  constexpr const char* units[] = {"bytes", "KiB", "MiB", "GiB", "TiB"};
  double value = static_cast<double>(bytes);
  int unit = 0;
  while (value >= 1024 && unit < 4) {
    value /= 1024;
    ++unit;
  }
  if (unit == 0) return fmt::format("{} bytes", bytes);
  if (value == static_cast<double>(static_cast<std::size_t>(value)))
    return fmt::format("{:.0f} {}", value, units[unit]);
  return fmt::format("{:.1f} {}", value, units[unit]);
}

}  // namespace loom
