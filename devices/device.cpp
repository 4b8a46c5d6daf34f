#include "devices/device.hpp"

#include <fmt/format.h>

#include "devices/cpu/host_kernels.hpp"

namespace loom {
namespace {

std::string mib(std::size_t bytes) { return fmt::format("{:.1f} MiB", bytes / 1048576.0); }

// Devices that run everything synchronously are always past their last event.
class completed_event final : public device_event {
 public:
  void wait() override {}
  bool done() override { return true; }
};

}  // namespace

device_out_of_memory::device_out_of_memory(const std::string& device, std::size_t wanted,
                                           std::size_t free)
    : std::runtime_error(fmt::format("device '{}' is out of memory: {} bytes ({}) wanted, {} bytes "
                                     "({}) free",
                                     device, wanted, mib(wanted), free, mib(free))),
      device_(device),
      wanted_(wanted),
      free_(free) {}

tensor device::allocate_tensor(dtype type, shape_t shape) {
  std::size_t bytes = size_of(type);
  for (auto extent : shape) bytes *= static_cast<std::size_t>(extent);
  return tensor(type, std::move(shape), allocate(bytes), memory_space());
}

bool device::copy_from_peer(const device&, const std::byte*, std::byte*, std::size_t) {
  return false;
}

std::unique_ptr<device_event> device::record() {
  synchronize();
  return std::make_unique<completed_event>();
}

void device::lacks_kernel(const char* kernel) const {
  throw std::runtime_error(fmt::format(
      "device '{}' ({}) has no {} kernel; moe shards run on cpu and cuda devices", name(), kind(),
      kernel));
}

void device::gather_rows(const float* x, std::int64_t ldx, const std::int32_t* rows,
                         std::int64_t n, std::int64_t d, float* out) {
  if (!in_host_memory()) lacks_kernel("gather_rows");
  host_kernels::gather_rows(x, ldx, rows, n, d, out);
}

void device::swiglu_rows(float* h, std::int64_t rows, std::int64_t ff) {
  if (!in_host_memory()) lacks_kernel("swiglu_rows");
  host_kernels::swiglu_rows(h, rows, ff);
}

void device::scale_rows(float* y, std::int64_t rows, std::int64_t d, const float* scale) {
  if (!in_host_memory()) lacks_kernel("scale_rows");
  host_kernels::scale_rows(y, rows, d, scale);
}

void device::add_row_bias(float* y, std::int64_t rows, std::int64_t cols, std::int64_t ldy,
                          const float* bias) {
  if (!in_host_memory()) lacks_kernel("add_row_bias");
  host_kernels::add_row_bias(y, rows, cols, ldy, bias);
}

void device::to_bf16(const float* x, std::int64_t rows, std::int64_t cols, std::int64_t ldx,
                     std::uint16_t* out) {
  if (!in_host_memory()) lacks_kernel("to_bf16");
  host_kernels::to_bf16(x, rows, cols, ldx, out);
}

}  // namespace loom
