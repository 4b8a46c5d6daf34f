// A device plugin that exports the right ABI version but no loom_device_plugin_describe.
#include "tests/device_plugins/stub_device.hpp"

LOOM_TEST_EXPORT const uint32_t loom_device_plugin_abi_version = LOOM_DEVICE_PLUGIN_ABI_VERSION;
