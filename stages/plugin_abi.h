/* The C boundary between loom and a plugin library. A plugin exports exactly two symbols:
 *
 *   const uint32_t loom_plugin_abi_version;   read (not called) before anything else, and
 *                                             refused unless it equals LOOM_PLUGIN_ABI_VERSION;
 *   int loom_plugin_register(loom_stage_registrar* registrar, char* error, size_t error_size);
 *                                             adds the plugin's stage types; returns 0, or
 *                                             non-zero with a message written to `error`.
 *
 * The registrar is loom's stage registry behind an opaque pointer; C++ plugins use the
 * LOOM_PLUGIN macro of stages/plugin.hpp, which writes both symbols. The version changes
 * whenever anything a plugin sees (this file, the stage API, the core types) changes layout. */
#ifndef LOOM_PLUGIN_ABI_H
#define LOOM_PLUGIN_ABI_H

#include <stddef.h>
#include <stdint.h>

#define LOOM_PLUGIN_ABI_VERSION 2u

#ifdef __cplusplus
extern "C" {
#endif

typedef struct loom_stage_registrar loom_stage_registrar;

typedef int (*loom_plugin_register_fn)(loom_stage_registrar* registrar, char* error,
                                       size_t error_size);

#ifdef __cplusplus
}
#endif

#endif
