// The device kinds loom knows: the built-in ones, the optional backends that were built, and the
// device plugins found beside libloom or on LOOM_DEVICE_PLUGIN_PATH (see device_registry.hpp).
#include "devices/device_registry.hpp"

#include <dlfcn.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <stdexcept>
#include <string_view>

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

// The device plugins in `directory`, in name order so that loading is repeatable.
std::vector<std::filesystem::path> plugins_in(const std::filesystem::path& directory) {
  std::vector<std::filesystem::path> found;
  std::error_code error;
  for (const auto& entry : std::filesystem::directory_iterator(directory, error)) {
    auto name = entry.path().filename().string();
    if (name.rfind("libloom_device_", 0) == 0 && entry.path().extension() == ".so")
      found.push_back(entry.path());
  }
  std::sort(found.begin(), found.end());
  return found;
}

// LOOM_DEVICE_PLUGIN_PATH: colon-separated files and directories, like LD_LIBRARY_PATH, for
// plugins built out of tree or not installed. A path that is not a directory is passed to
// load_plugin as it is, so a missing file is reported by name rather than skipped.
std::vector<std::filesystem::path> plugins_from_environment() {
  const char* value = std::getenv("LOOM_DEVICE_PLUGIN_PATH");
  std::vector<std::filesystem::path> found;
  if (value == nullptr) return found;
  std::string_view rest(value);
  while (!rest.empty()) {
    auto colon = rest.find(':');
    std::filesystem::path entry(rest.substr(0, colon));
    rest = colon == std::string_view::npos ? std::string_view() : rest.substr(colon + 1);
    if (entry.empty()) continue;
    std::error_code error;
    if (std::filesystem::is_directory(entry, error)) {
      auto inside = plugins_in(entry);
      found.insert(found.end(), inside.begin(), inside.end());
    } else {
      found.push_back(entry);
    }
  }
  return found;
}

// Installed plugins first, then the environment's; a library named twice (installed and on the
// path) loads once, since loading it again would register its kind twice.
std::vector<std::string> plugins_to_load() {
  auto paths = plugins_in(library_directory());
  auto extra = plugins_from_environment();
  paths.insert(paths.end(), extra.begin(), extra.end());
  std::vector<std::string> unique;
  std::vector<std::filesystem::path> seen;
  for (const auto& path : paths) {
    std::error_code error;
    auto canonical = std::filesystem::weakly_canonical(std::filesystem::absolute(path), error);
    if (error) canonical = path;
    if (std::find(seen.begin(), seen.end(), canonical) != seen.end()) continue;
    seen.push_back(canonical);
    unique.push_back(path.string());
  }
  return unique;
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
  for (const auto& path : plugins_to_load()) registry.load_plugin(path);
  return registry;
}

}  // namespace loom
