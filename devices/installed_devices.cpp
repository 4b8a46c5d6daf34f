#include "devices/installed_devices.hpp"

namespace loom {

const device_registry& installed_device_kinds() {
  static const device_registry kinds = device_registry::standard();
  return kinds;
}

}  // namespace loom
