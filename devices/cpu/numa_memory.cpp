// Host memory on one NUMA node: its own mapping, bound to the node with hwloc before it is
// touched, so every page is placed there (see numa_memory.hpp).
#include "devices/cpu/numa_memory.hpp"

#include <hwloc.h>
#include <sys/mman.h>

#include <memory>
#include <new>
#include <stdexcept>

#include <fmt/format.h>

namespace loom {
namespace {

struct topology_deleter {
  void operator()(hwloc_topology* topology) const { hwloc_topology_destroy(topology); }
};

// Binding needs a loaded topology to find the node's set; one per process, read on first use.
hwloc_topology_t binding_topology() {
  static const std::unique_ptr<hwloc_topology, topology_deleter> topology = [] {
    hwloc_topology_t raw = nullptr;
    if (hwloc_topology_init(&raw) != 0) throw std::runtime_error("hwloc cannot start");
    std::unique_ptr<hwloc_topology, topology_deleter> loaded(raw);
    if (hwloc_topology_load(raw) != 0)
      throw std::runtime_error("hwloc cannot read this machine's topology");
    return loaded;
  }();
  return topology.get();
}

}  // namespace

buffer allocate_on_numa_node(std::size_t bytes, int node) {
  auto* topology = binding_topology();
  auto* numa = hwloc_get_numanode_obj_by_os_index(topology, static_cast<unsigned>(node));
  if (numa == nullptr)
    throw std::invalid_argument(fmt::format("this machine has no NUMA node {}", node));
  // Small buffers share pages with others in malloc's arenas, so they cannot be bound; buffer
  // zero-fills them on the calling thread, which a pinned device's executor runs on the node's
  // cores, so the kernel's first-touch rule places them on the node anyway. The threshold is
  // buffer::allocate's own-mapping size.
  constexpr std::size_t bind_from = 256 * 1024;
  if (bytes < bind_from) return buffer::allocate(bytes);
  void* memory = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (memory == MAP_FAILED) throw std::bad_alloc();
  // Not HWLOC_MEMBIND_STRICT, so hwloc asks the kernel to prefer the node (MPOL_PREFERRED_MANY
  // where the kernel has it, 5.15 on; MPOL_BIND before): when the node is full, pages spill to
  // another node instead of the process being killed, and where binding is refused (a container
  // without CAP_SYS_NICE) the memory is still good and first touch from the node's cores places
  // it.
  hwloc_set_area_membind(topology, memory, bytes, numa->nodeset, HWLOC_MEMBIND_BIND,
                         HWLOC_MEMBIND_BYNODESET);
  return buffer::adopt(static_cast<std::byte*>(memory), bytes,
                       [memory, bytes] { munmap(memory, bytes); });
}

}  // namespace loom
