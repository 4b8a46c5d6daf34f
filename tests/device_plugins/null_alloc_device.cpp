// A device plugin whose table leaves a required entry, `alloc`, NULL: a device that cannot hand
// out memory is no device, and the loader refuses it before opening anything.
#include "tests/device_plugins/stub_device.hpp"

namespace {

const loom_device_plugin table = [] {
  auto t = loom::test::stub_device_table();
  t.alloc = nullptr;
  return t;
}();

}  // namespace

LOOM_TEST_EXPORT const uint32_t loom_device_plugin_abi_version = LOOM_DEVICE_PLUGIN_ABI_VERSION;

LOOM_TEST_EXPORT const loom_device_plugin* loom_device_plugin_describe(void) { return &table; }
