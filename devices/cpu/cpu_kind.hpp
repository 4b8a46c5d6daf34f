// The `cpu` device kind: host memory, threads pinned to a device's `cores`, OpenBLAS math. How a
// `[devices.NAME]` table with kind = "cpu" is read, described, opened, and what `loom devices`
// says about this machine's CPUs.
#pragma once

#include <vector>

#include "devices/cpu/topology.hpp"
#include "devices/device_registry.hpp"

namespace loom {

device_kind cpu_device_kind();

// What a CPU device on `cores` (empty: every usable CPU, unpinned) can do; `gflops` > 0 replaces
// the estimate of 30 GFLOP/s per core. `topology` places a pinned device on a NUMA node (see
// numa_node_for); an unpinned one never reads it, so callers pass an empty one for those rather
// than reading the machine's, which takes hwloc tens of milliseconds.
device_caps cpu_caps(const std::vector<int>& cores, double gflops, const cpu_topology& topology);

// The one `loom devices` entry for this machine's CPUs: "1 package, 2 cores, 2 PUs, L3 32 MiB,
// 1 NUMA node 24 GiB", with a line per package, cache level and NUMA node.
detected_device describe_machine(const cpu_topology& topology);

}  // namespace loom
