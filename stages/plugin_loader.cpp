#include "stages/plugin_loader.hpp"

#include <dlfcn.h>

#include <filesystem>
#include <memory>
#include <vector>

#include <fmt/format.h>

#include "stages/plugin_abi.h"

namespace loom {
namespace {

// A refused library is closed again, so that a fixed file at the same path can load later in
// the same process. One that registered stays open: its code backs the stage types it added.
struct library_closer {
  void operator()(void* handle) const { dlclose(handle); }
};
using library_handle = std::unique_ptr<void, library_closer>;

// Types registered "by" a path the loader has seen before, spelled the same or not (symlinks,
// "dir/../dir"): loading that file again adds nothing.
bool same_file(const std::string& origin, const std::string& path) {
  std::error_code ec;
  return origin == path || std::filesystem::equivalent(origin, path, ec);
}

}  // namespace

void load_plugin(const std::string& path, stage_registry& registry) {
  namespace fs = std::filesystem;
  if (!fs::path(path).is_absolute())
    throw plugin_error(fmt::format("plugin {}: path must be absolute", path));
  std::error_code ec;
  if (!fs::exists(path, ec))
    throw plugin_error(fmt::format("plugin {}: no such file", path));
  if (!fs::is_regular_file(path, ec))
    throw plugin_error(fmt::format("plugin {}: not a regular file", path));

  library_handle library(dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL));
  if (!library)
    throw plugin_error(fmt::format("plugin {}: not a loadable shared library ({})", path,
                                   dlerror()));
  auto* version =
      static_cast<const std::uint32_t*>(dlsym(library.get(), "loom_plugin_abi_version"));
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
  auto entry =
      reinterpret_cast<loom_plugin_register_fn>(dlsym(library.get(), "loom_plugin_register"));
  if (entry == nullptr)
    throw plugin_error(fmt::format("plugin {}: missing symbol loom_plugin_register", path));

  // The plugin registers into a registry of its own first. Its types then enter `registry` with
  // the file as their origin (the plugin cannot know its own path), and a plugin that fails
  // halfway or clashes with a type already there leaves `registry` as it was.
  stage_registry staged;
  char error[512] = "";
  if (entry(reinterpret_cast<loom_stage_registrar*>(&staged), error, sizeof error) != 0)
    throw plugin_error(fmt::format("plugin {}: registration failed: {}", path, error));
  std::vector<const stage_spec*> added;
  for (const auto* spec : staged.all()) {
    if (registry.find(spec->type) == nullptr)
      added.push_back(spec);
    else if (const auto& origin = registry.origin(spec->type); !same_file(origin, path))
      throw plugin_error(fmt::format("plugin {}: stage type '{}' is already registered (by {})",
                                     path, spec->type, origin));
  }
  for (const auto* spec : added) registry.add(*spec, path);
  library.release();
}

}  // namespace loom
