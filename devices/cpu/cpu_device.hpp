// A CPU device: host memory, stages' threads pinned to its cores, matrix products through
// OpenBLAS. Every CPU device shares the host memory space, so edges between them move nothing;
// a device whose cores all sit on one NUMA node of a multi-node machine allocates there
// (`caps().numa_node`, decided by the cpu kind from the topology).
#pragma once

#include <vector>

#include "devices/device.hpp"

namespace loom {

class cpu_device final : public device {
 public:
  // `cores` empty: every usable core, threads left unpinned. `caps.numa_node` >= 0: large
  // buffers are placed on that node. A pinned device makes OpenBLAS run each product on the
  // calling thread, process-wide (see keep_blas_on_calling_threads).
  cpu_device(std::string name, std::vector<int> cores, device_caps caps);

  std::size_t memory_free() const override;
  buffer allocate(std::size_t bytes) override;
  void copy_from_host(const std::byte* host, std::byte* to, std::size_t bytes) override;
  void copy_to_host(const std::byte* from, std::byte* host, std::size_t bytes) override;
  void copy_within(const std::byte* from, std::byte* to, std::size_t bytes) override;
  void bind_thread() override;
  void gemm(const gemm_args& args) override;

  const std::vector<int>& cores() const { return cores_; }

 private:
  std::vector<int> cores_;
};

}  // namespace loom
