#include "stages/plugin_loader.hpp"

#include <dlfcn.h>

#include <filesystem>
#include <mutex>
#include <set>

#include <fmt/format.h>

#include "stages/plugin_abi.h"

namespace loom {

void load_plugin(const std::string& path, stage_registry& registry) {
  namespace fs = std::filesystem;
  if (!fs::path(path).is_absolute())
    throw plugin_error(fmt::format("plugin {}: path must be absolute", path));
  std::error_code ec;
  if (!fs::exists(path, ec))
    throw plugin_error(fmt::format("plugin {}: no such file", path));
  if (!fs::is_regular_file(path, ec))
    throw plugin_error(fmt::format("plugin {}: not a regular file", path));

  static std::mutex mutex;
  static std::set<std::pair<const stage_registry*, std::string>> loaded;
  std::lock_guard lock(mutex);
  if (loaded.count({&registry, path})) return;

  void* handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (handle == nullptr)
    throw plugin_error(fmt::format("plugin {}: not a loadable shared library ({})", path,
                                   dlerror()));
  auto* version = static_cast<const std::uint32_t*>(dlsym(handle, "loom_plugin_abi_version"));
  if (version == nullptr)
    throw plugin_error(fmt::format(
        "plugin {}: missing symbol loom_plugin_abi_version (is it a loom plugin? use "
        "LOOM_PLUGIN from stages/plugin.hpp)",
        path));
  if (*version != LOOM_PLUGIN_ABI_VERSION)
    throw plugin_error(fmt::format(
        "plugin {}: built for plugin ABI version {}, this loom speaks version {}; rebuild it "
        "against this loom",
        path, *version, LOOM_PLUGIN_ABI_VERSION));
  auto entry = reinterpret_cast<loom_plugin_register_fn>(dlsym(handle, "loom_plugin_register"));
  if (entry == nullptr)
    throw plugin_error(fmt::format("plugin {}: missing symbol loom_plugin_register", path));
  char error[512] = "";
  if (entry(reinterpret_cast<loom_stage_registrar*>(&registry), error, sizeof error) != 0)
    throw plugin_error(fmt::format("plugin {}: registration failed: {}", path, error));
  loaded.insert({&registry, path});
}

}  // namespace loom
