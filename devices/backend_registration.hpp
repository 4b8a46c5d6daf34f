// Optional backends (devices/cuda when the CUDA toolkit was found) add their device kinds to
// `device_registry::standard()` by defining one of these at namespace scope in their folder, so
// no code outside a backend's folder needs to know whether it was built.
#pragma once

#include <functional>
#include <vector>

namespace loom {

class device_registry;

struct backend_registration {
  explicit backend_registration(std::function<void(device_registry&)> add);
  static const std::vector<std::function<void(device_registry&)>>& all();
};

}  // namespace loom
