// The CPU device (see cpu_device.hpp): memory from buffer::allocate or from its NUMA node, plain
// memcpy for copies, pinning through cpu_affinity, math through cpu_gemm.
#include "devices/cpu/cpu_device.hpp"

#include <unistd.h>

#include <cstring>

#include "devices/cpu/cpu_gemm.hpp"
#include "devices/cpu/cpu_kind.hpp"
#include "devices/cpu/numa_memory.hpp"
#include "devices/cpu_affinity.hpp"

namespace loom {

cpu_device::cpu_device(std::string name, std::vector<int> cores, device_caps caps)
    : device(std::move(name), "cpu", std::move(caps)), cores_(std::move(cores)) {
  if (!cores_.empty()) keep_blas_on_calling_threads();
}

std::size_t cpu_device::memory_free() const {
  return static_cast<std::size_t>(sysconf(_SC_AVPHYS_PAGES)) *
         static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
}

buffer cpu_device::allocate(std::size_t bytes) {
  if (caps().numa_node >= 0) return allocate_on_numa_node(bytes, caps().numa_node);
  return buffer::allocate(bytes);
}

void cpu_device::copy_from_host(const std::byte* host, std::byte* to, std::size_t bytes) {
  std::memcpy(to, host, bytes);
}

void cpu_device::copy_to_host(const std::byte* from, std::byte* host, std::size_t bytes) {
  std::memcpy(host, from, bytes);
}

void cpu_device::copy_within(const std::byte* from, std::byte* to, std::size_t bytes) {
  std::memcpy(to, from, bytes);
}

void cpu_device::bind_thread() {
  if (!cores_.empty()) pin_current_thread(cores_);
}

void cpu_device::gemm(const gemm_args& args) { cpu_gemm(name(), args); }

device& host_device() {
  static cpu_device cpu("cpu", {}, cpu_caps({}, 0, cpu_topology{}));
  return cpu;
}

}  // namespace loom
