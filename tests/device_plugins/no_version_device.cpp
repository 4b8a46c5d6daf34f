// A library with a describe entry but no ABI version: never built as a loom device plugin, or
// built before the ABI was versioned. Its describe entry aborts the test process, because the
// loader must read the version before calling anything.
#include "tests/device_plugins/stub_device.hpp"

LOOM_TEST_EXPORT const loom_device_plugin* loom_device_plugin_describe(void) { std::abort(); }
