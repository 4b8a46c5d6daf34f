#include "devices/backend_registration.hpp"

namespace loom {
namespace {

std::vector<std::function<void(device_registry&)>>& registrations() {
  static std::vector<std::function<void(device_registry&)>> list;
  return list;
}

}  // namespace

backend_registration::backend_registration(std::function<void(device_registry&)> add) {
  registrations().push_back(std::move(add));
}

const std::vector<std::function<void(device_registry&)>>& backend_registration::all() {
  return registrations();
}

}  // namespace loom
