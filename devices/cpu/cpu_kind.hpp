// The `cpu` device kind: host memory, threads pinned to a device's `cores`, OpenBLAS math.
#pragma once

#include "devices/device_registry.hpp"

namespace loom {

device_kind cpu_device_kind();

}  // namespace loom
