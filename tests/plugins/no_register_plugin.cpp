// A test plugin with the right ABI version but no registration function.
#include "stages/plugin_abi.h"

extern "C" __attribute__((visibility("default"))) const uint32_t loom_plugin_abi_version =
    LOOM_PLUGIN_ABI_VERSION;
