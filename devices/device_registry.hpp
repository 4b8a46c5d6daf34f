// The kinds of device loom knows: how each is declared in a graph file (`[devices.NAME]` keys,
// checked like stage parameters), what a declared device can do without opening it (for
// `loom check` and `loom plan`), how it opens, and which ones this machine has (`loom devices`).
// Built in: `cpu`, and `cuda` when loom was built with the CUDA toolkit. Device plugins
// (devices/device_plugin_abi.h) add kinds from shared libraries; `emu` is one.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "devices/device.hpp"
#include "stages/params.hpp"

namespace loom {

// A device this machine has, as `loom devices` lists it.
struct detected_device {
  std::string name;         // what a graph would call it: "cpu", "cuda:0"
  std::string description;  // one line: model, memory, cores, ...
  device_caps caps;
  std::vector<std::string> details;  // further lines (topology, caches, NUMA nodes)
};

struct device_kind {
  std::string kind;      // "cpu", "cuda", "emu"
  std::string summary;   // one line, for `loom devices`
  // Keys its `[devices.NAME]` table takes, besides the ones every kind has (`kind`, `cores`,
  // `cost_per_hour`, `watts`).
  std::vector<param_spec> params;
  // What a device declared with these values (and `cores` for its threads) can do, without
  // opening it. Pure.
  std::function<device_caps(const std::string& name, const param_values&,
                            const std::vector<int>& cores)>
      describe;
  // Opens the device; throws std::runtime_error saying why when this machine cannot.
  std::function<std::unique_ptr<device>(const std::string& name, const param_values&,
                                        const std::vector<int>& cores)>
      open;
  // The devices of this kind this machine has.
  std::function<std::vector<detected_device>()> detect;
  std::string origin = "built-in";  // or the plugin's path
};

class device_registry {
 public:
  // Throws std::invalid_argument when the kind is already registered (naming both origins).
  void add(device_kind kind);
  const device_kind* find(std::string_view kind) const;
  std::vector<std::string> kinds() const;

  // Loads a device plugin and registers its kind; throws std::runtime_error naming the file
  // (missing, not a library, wrong ABI version, missing entry).
  void load_plugin(const std::string& path);

  // cpu, cuda where built, the device plugins installed beside libloom, and those named in
  // LOOM_DEVICE_PLUGIN_PATH (colon-separated files, or directories of libloom_device_*.so).
  static device_registry standard();

 private:
  std::map<std::string, device_kind, std::less<>> kinds_;
};

}  // namespace loom
