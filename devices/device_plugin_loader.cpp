#include <stdexcept>

#include "devices/device_registry.hpp"

namespace loom {

void device_registry::load_plugin(const std::string& path) {
  throw std::runtime_error(path + ": device plugins are not supported yet");
}

}  // namespace loom
