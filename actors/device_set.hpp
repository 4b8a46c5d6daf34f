// The devices one run uses: every device a stage is placed on, opened before any stage opens
// and closed after the last actor has finished (devices outlive the tensors in their memory).
#pragma once

#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "devices/device.hpp"
#include "graphs/graph.hpp"

namespace loom {

class device_set {
 public:
  // Throws std::runtime_error naming the device and saying why it could not be opened.
  explicit device_set(const graph_def& graph);

  device& at(std::string_view name) const;
  // A device whose memory space is `space` (any of them, for host memory); null when no
  // device of this run has that space.
  device* owner_of(std::string_view space) const;

 private:
  std::map<std::string, std::unique_ptr<device>, std::less<>> devices_;
};

}  // namespace loom
