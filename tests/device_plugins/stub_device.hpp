// A complete device plugin table whose every required entry aborts the test process. The bad
// plugins of this folder start from it and break one thing each: the loader must refuse them
// from what it reads alone, before it calls any entry.
#pragma once

#include <cstdlib>

#include "devices/device_plugin_abi.h"

namespace loom::test {

inline loom_device_plugin stub_device_table() {
  loom_device_plugin table{};
  table.kind = "stub";
  table.summary = "refused before use";
  table.describe = [](const char*, const loom_device_param_value*, size_t, loom_device_caps*, char*,
                      size_t) -> loom_device_status { std::abort(); };
  table.open = [](const char*, const loom_device_param_value*, size_t, char*,
                  size_t) -> loom_device* { std::abort(); };
  table.close = [](loom_device*) { std::abort(); };
  table.memory_free = [](loom_device*) -> uint64_t { std::abort(); };
  table.alloc = [](loom_device*, uint64_t, void**, char*, size_t) -> loom_device_status {
    std::abort();
  };
  table.free = [](loom_device*, void*) { std::abort(); };
  table.copy_from_host = [](loom_device*, const void*, void*, uint64_t, char*,
                            size_t) -> loom_device_status { std::abort(); };
  table.copy_to_host = [](loom_device*, const void*, void*, uint64_t, char*,
                          size_t) -> loom_device_status { std::abort(); };
  table.copy_within = [](loom_device*, const void*, void*, uint64_t, char*,
                         size_t) -> loom_device_status { std::abort(); };
  return table;
}

}  // namespace loom::test

// Default visibility: the test plugins are built with the compiler's defaults, but say it anyway,
// as a real plugin must.
#define LOOM_TEST_EXPORT extern "C" __attribute__((visibility("default")))
