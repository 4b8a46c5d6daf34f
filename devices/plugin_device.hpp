// The C++ side of a device from a device plugin (devices/device_plugin_abi.h): a loom::device
// that forwards each call to the plugin's table and turns its status codes and messages into
// exceptions. Ownership runs one way: every buffer and event of the device holds the plugin's
// handle, and the handle holds the library, so `close` runs after the last buffer is handed back
// and the library stays loaded until then, however long a tensor outlives its stage.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "devices/device.hpp"
#include "devices/device_plugin_abi.h"

namespace loom {

// A loaded device plugin: its table and the library that holds its code, closed (dlclose) when
// the last kind, device, buffer or event that uses it is gone.
struct device_plugin {
  std::string path;
  std::shared_ptr<void> library;
  const loom_device_plugin* table = nullptr;
};

// loom's view of the C caps struct; `cores` are the graph's, the plugin does not know them.
device_caps to_device_caps(const loom_device_caps& caps, std::vector<int> cores = {});

class plugin_device final : public device {
 public:
  // Takes over `handle`, which the plugin's `open` returned for `name`.
  plugin_device(std::string name, std::shared_ptr<const device_plugin> plugin, loom_device* handle,
                device_caps caps);

  std::size_t memory_free() const override;
  // Throws device_out_of_memory when the plugin has too little free.
  buffer allocate(std::size_t bytes) override;
  // The plugin's page-locked host memory where it has some.
  buffer allocate_staging(std::size_t bytes) override;
  void copy_from_host(const std::byte* host, std::byte* to, std::size_t bytes) override;
  void copy_to_host(const std::byte* from, std::byte* host, std::size_t bytes) override;
  void copy_within(const std::byte* from, std::byte* to, std::size_t bytes) override;
  bool copy_from_peer(const device& source, const std::byte* from, std::byte* to,
                      std::size_t bytes) override;
  void synchronize() override;
  std::unique_ptr<device_event> record() override;
  // Pins the thread to the device's `cores` (if any), then lets the plugin bind it.
  void bind_thread() override;
  void gemm(const gemm_args& args) override;

 private:
  std::shared_ptr<const device_plugin> plugin_;
  std::shared_ptr<loom_device> handle_;  // closes through the plugin with its last holder
};

}  // namespace loom
