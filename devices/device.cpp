#include "devices/device.hpp"

#include <fmt/format.h>

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

}  // namespace loom
