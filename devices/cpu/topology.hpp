// The machine's CPU topology as hwloc sees it — packages, cores, hardware threads (PUs), data
// caches and NUMA nodes — restricted to the CPUs and memory this process may use. Plain data, so
// the cpu kind can describe a device and `loom devices` can print the machine without hwloc
// leaking past devices/cpu, and tests can build a topology by hand.
//
// CPU numbers are the operating system's (what `taskset` and a graph's `cores` use); NUMA node
// numbers are the kernel's (/sys/devices/system/node/nodeN).
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

namespace loom {

struct cpu_package {
  int index = 0;
  std::string model;      // "AMD EPYC 9654 96-Core Processor"; empty when hwloc does not say
  std::vector<int> cpus;  // usable PUs in it
  int cores = 0;          // usable cores in it
};

struct cpu_core {
  int index = 0;          // hwloc's logical index, dense from 0
  int package = 0;
  std::vector<int> cpus;  // its hardware threads
};

// A data or unified cache (instruction caches do not matter to tensor code).
struct cpu_cache {
  int level = 0;          // 1, 2, 3
  std::size_t bytes = 0;
  std::vector<int> cpus;  // PUs that share it
};

struct numa_node {
  int index = 0;
  std::size_t memory_bytes = 0;  // local memory
  std::vector<int> cpus;         // usable PUs close to it; empty for memory-only nodes
};

struct cpu_topology {
  std::vector<cpu_package> packages;
  std::vector<cpu_core> cores;
  std::vector<int> cpus;  // every usable PU, ascending
  std::vector<cpu_cache> caches;  // ordered by level, then by first CPU
  std::vector<numa_node> numa_nodes;
};

// Reads the topology of this machine; throws std::runtime_error when hwloc cannot.
cpu_topology read_cpu_topology();

// The topology read once per process: it does not change while loom runs.
const cpu_topology& machine_topology();

// The NUMA node a device on `cpus` should allocate on: the one node holding all of them, when the
// machine has more than one node. None when it has one node (nothing to choose), when `cpus` is
// empty (any CPU: the memory follows whoever touches it) or when `cpus` span several nodes.
std::optional<int> numa_node_for(const cpu_topology& topology, const std::vector<int>& cpus);

// "0-3,8,10-11", as taskset prints CPU lists.
std::string cpu_list(const std::vector<int>& cpus);

// "48 KiB", "1 MiB", "24 GiB": the largest unit that keeps one decimal place meaningful.
std::string byte_size(std::size_t bytes);

}  // namespace loom
