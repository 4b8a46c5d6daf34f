// A device plugin built for the next device plugin ABI. The loader must refuse it from the
// version symbol alone: its describe entry aborts the test process.
#include "tests/device_plugins/stub_device.hpp"

LOOM_TEST_EXPORT const uint32_t loom_device_plugin_abi_version = LOOM_DEVICE_PLUGIN_ABI_VERSION + 1;

LOOM_TEST_EXPORT const loom_device_plugin* loom_device_plugin_describe(void) { std::abort(); }
