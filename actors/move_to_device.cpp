#include "actors/move_to_device.hpp"

#include <stdexcept>

#include <fmt/format.h>

#include "devices/transfer.hpp"

namespace loom {

packet_ptr move_to_device(packet_ptr p, const input_route& route, std::uint64_t& bytes_moved) {
  const auto& space = route.to.memory_space();
  bool elsewhere = false;
  for (const auto& t : p->tensors) elsewhere = elsewhere || t.value.device() != space;
  if (!elsewhere) return p;

  for (const auto& t : p->tensors) {
    if (t.value.device() == space) continue;
    if (!route.transfer_planned)
      throw std::runtime_error(fmt::format(
          "stage '{}' input '{}': tensor '{}' is in memory space '{}', but the stage runs on "
          "device '{}' (memory space '{}') and this edge has no planned transfer; the stage "
          "that emitted it must allocate its outputs on its own device",
          route.stage, route.port, t.name, t.value.device(), route.to.name(), space));
    if (route.devices.owner_of(t.value.device()) == nullptr)
      throw std::runtime_error(fmt::format(
          "stage '{}' input '{}': tensor '{}' is in memory space '{}', which no device of this "
          "run owns",
          route.stage, route.port, t.name, t.value.device()));
  }
  auto moved = std::make_shared<packet>(p->derive());
  for (const auto& t : p->tensors) {
    if (t.value.device() == space) {
      moved->tensors.push_back(t);
      continue;
    }
    auto& from = *route.devices.owner_of(t.value.device());
    moved->tensors.push_back({t.name, transfer(t.value, from, route.to)});
    bytes_moved += t.value.nbytes();
  }
  return moved;
}

}  // namespace loom
