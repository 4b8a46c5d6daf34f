// Writing a plugin in C++: define a function that adds stage types to a registry, then
//
//   LOOM_PLUGIN(register_my_stages)
//
// in one source file of the shared library. See examples/plugin/ for a whole one.
#pragma once

#include <cstdio>
#include <exception>

#include "stages/plugin_abi.h"
#include "stages/registry.hpp"

#define LOOM_PLUGIN(register_function)                                                     \
  extern "C" __attribute__((visibility("default"))) const uint32_t loom_plugin_abi_version = \
      LOOM_PLUGIN_ABI_VERSION;                                                             \
  extern "C" __attribute__((visibility("default"))) int loom_plugin_register(              \
      loom_stage_registrar* registrar, char* error, size_t error_size) {                   \
    try {                                                                                  \
      register_function(*reinterpret_cast<::loom::stage_registry*>(registrar));            \
      return 0;                                                                            \
    } catch (const std::exception& e) {                                                    \
      std::snprintf(error, error_size, "%s", e.what());                                    \
    } catch (...) {                                                                        \
      std::snprintf(error, error_size, "unknown exception");                               \
    }                                                                                      \
    return 1;                                                                              \
  }
