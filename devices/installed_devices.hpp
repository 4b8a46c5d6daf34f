// The device kinds of this installation (cpu, cuda where built, the device plugins installed
// beside libloom or named in LOOM_DEVICE_PLUGIN_PATH), found once per process.
#pragma once

#include "devices/device_registry.hpp"

namespace loom {

const device_registry& installed_device_kinds();

}  // namespace loom
