// A test plugin built for the next plugin ABI. The loader must refuse it from the version symbol
// alone: calling its registration function aborts the test process.
#include <cstdlib>

#include "stages/plugin_abi.h"

extern "C" __attribute__((visibility("default"))) const uint32_t loom_plugin_abi_version =
    LOOM_PLUGIN_ABI_VERSION + 1;

extern "C" __attribute__((visibility("default"))) int loom_plugin_register(loom_stage_registrar*,
                                                                           char*, size_t) {
  std::abort();
}
