// A device plugin that can record events but not wait for them: the four event entries come
// together or not at all, so the loader refuses it.
#include "tests/device_plugins/stub_device.hpp"

namespace {

const loom_device_plugin table = [] {
  auto t = loom::test::stub_device_table();
  t.event_record = [](loom_device*, char*, size_t) -> loom_device_event* { std::abort(); };
  t.event_done = [](loom_device*, loom_device_event*) -> int { std::abort(); };
  t.event_destroy = [](loom_device*, loom_device_event*) { std::abort(); };
  return t;
}();

}  // namespace

LOOM_TEST_EXPORT const uint32_t loom_device_plugin_abi_version = LOOM_DEVICE_PLUGIN_ABI_VERSION;

LOOM_TEST_EXPORT const loom_device_plugin* loom_device_plugin_describe(void) { return &table; }
