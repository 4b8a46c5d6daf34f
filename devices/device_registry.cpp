#include "devices/device_registry.hpp"

#include <dlfcn.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <stdexcept>

#include <fmt/format.h>

#include "devices/backend_registration.hpp"
#include "devices/cpu/cpu_kind.hpp"

namespace loom {
namespace {

// Device plugins are installed beside libloom itself, named libloom_device_KIND.so.
std::filesystem::path library_directory() {
  Dl_info info{};
  if (dladdr(reinterpret_cast<void*>(&library_directory), &info) == 0 || info.dli_fname == nullptr)
    return {};
  return std::filesystem::path(info.dli_fname).parent_path();
}

std::vector<std::string> installed_plugins() {
  std::vector<std::string> found;
  std::error_code error;
  for (const auto& entry : std::filesystem::directory_iterator(library_directory(), error)) {
    auto name = entry.path().filename().string();
    if (name.rfind("libloom_device_", 0) == 0 && entry.path().extension() == ".so")
      found.push_back(entry.path().string());
  }
  std::sort(found.begin(), found.end());
  return found;
}

}  // namespace

void device_registry::add(device_kind kind) {
  if (auto it = kinds_.find(kind.kind); it != kinds_.end())
    throw std::invalid_argument(fmt::format("device kind '{}' from {} is already registered by {}",
                                            kind.kind, kind.origin, it->second.origin));
  auto name = kind.kind;
  kinds_.emplace(std::move(name), std::move(kind));
}

const device_kind* device_registry::find(std::string_view kind) const {
  auto it = kinds_.find(kind);
  return it == kinds_.end() ? nullptr : &it->second;
}

std::vector<std::string> device_registry::kinds() const {
  std::vector<std::string> names;
  for (const auto& [name, kind] : kinds_) names.push_back(name);
  return names;
}

device_registry device_registry::standard() {
  device_registry registry;
  registry.add(cpu_device_kind());
  for (const auto& add : backend_registration::all()) add(registry);
  for (const auto& path : installed_plugins()) registry.load_plugin(path);
  return registry;
}

}  // namespace loom
