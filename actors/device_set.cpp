#include "actors/device_set.hpp"

#include <stdexcept>

#include <fmt/format.h>

#include "devices/installed_devices.hpp"

namespace loom {

device_set::device_set(const graph_def& graph) {
  for (const auto& stage : graph.stages) {
    if (devices_.count(stage.device) != 0) continue;
    const auto& declared = graph.devices.at(stage.device);
    const auto* kind = installed_device_kinds().find(declared.kind);
    if (kind == nullptr)
      throw std::runtime_error(fmt::format("device '{}': this loom has no device kind '{}'",
                                           declared.name, declared.kind));
    try {
      devices_.emplace(declared.name, kind->open(declared.name, declared.values, declared.cores));
    } catch (const std::exception& e) {
      throw std::runtime_error(fmt::format("device '{}' ({}) could not be opened: {}",
                                           declared.name, declared.kind, e.what()));
    }
  }
}

device& device_set::at(std::string_view name) const { return *devices_.find(name)->second; }

device* device_set::owner_of(std::string_view space) const {
  for (const auto& [name, d] : devices_)
    if (d->memory_space() == space) return d.get();
  return space == host_memory_space ? &host_device() : nullptr;
}

}  // namespace loom
