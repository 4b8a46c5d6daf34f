// Host memory placed on one NUMA node, for CPU devices whose cores all sit on that node: a stage
// pinned to them then reads its tensors from local memory instead of across the interconnect.
#pragma once

#include <cstddef>

#include "devices/buffer.hpp"

namespace loom {

// `bytes` of zero-filled, 64-byte aligned host memory on NUMA node `node` (the kernel's number).
// Throws std::invalid_argument when the machine has no such node, std::bad_alloc when memory
// runs out.
buffer allocate_on_numa_node(std::size_t bytes, int node);

}  // namespace loom
