// A test plugin without the ABI version symbol: a library that was never built as a loom plugin,
// or one built before the ABI was versioned. It does have a registration function, which aborts
// the test process if called, because the loader must read the version before calling anything.
#include <cstdlib>

#include "stages/plugin_abi.h"

extern "C" __attribute__((visibility("default"))) int loom_plugin_register(loom_stage_registrar*,
                                                                           char*, size_t) {
  std::abort();
}
