// A device plugin that can hand out page-locked host memory but not take it back: alloc_host
// and free_host come together or not at all, so the loader refuses it.
#include "tests/device_plugins/stub_device.hpp"

namespace {

const loom_device_plugin table = [] {
  auto t = loom::test::stub_device_table();
  t.alloc_host = [](loom_device*, uint64_t, void**, char*, size_t) -> loom_device_status {
    std::abort();
  };
  return t;
}();

}  // namespace

LOOM_TEST_EXPORT const uint32_t loom_device_plugin_abi_version = LOOM_DEVICE_PLUGIN_ABI_VERSION;

LOOM_TEST_EXPORT const loom_device_plugin* loom_device_plugin_describe(void) { return &table; }
