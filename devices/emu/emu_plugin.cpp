// `emu`, an emulated accelerator, as a device plugin (devices/device_plugin_abi.h). Its memory is
// host memory underneath, taken from a pool of fixed capacity (emu_pool.hpp) and tagged
// "emu:NAME", so stages on it must have their tensors transferred in and out as on a real NPU,
// and run out of memory where a real one would. Its matrix products round their inputs like an
// NPU's (emu_gemm.hpp); with `throttle`, copies and products also take as long as the declared
// bandwidth and throughput say, so that a graph runs at the modelled device's pace.
//
//   [devices.npu0]
//   kind = "emu"
//   memory = "2GiB"
//   bandwidth = "20GB/s"
//   precision = "bf16"
//   throttle = true
//
// It speaks only the C ABI and does not link libloom. Nothing here lets an exception out: every
// entry turns one into a status and a message.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <thread>

#include <fmt/format.h>

#include "devices/device_plugin_abi.h"
#include "devices/emu/emu_config.hpp"
#include "devices/emu/emu_gemm.hpp"
#include "devices/emu/emu_host_cache.hpp"
#include "devices/emu/emu_pool.hpp"

struct loom_device {
  loom::emu::emu_config config;
  loom::emu::emu_pool pool;
  // Up to 256 MiB of host staging kept warm, as NPU runtimes keep page-locked memory.
  loom::emu::emu_host_cache host{256u << 20};
};

namespace loom::emu {
namespace {

using clock = std::chrono::steady_clock;

void write_error(char* error, std::size_t size, const char* message) {
  if (error == nullptr || size == 0) return;
  std::snprintf(error, size, "%s", message);
}

// Runs an entry's body; what it throws becomes the status and message loom receives.
template <class Body>
loom_device_status guarded(char* error, std::size_t size, Body&& body) {
  try {
    body();
    return LOOM_DEVICE_OK;
  } catch (const unsupported_gemm& e) {
    write_error(error, size, e.what());
    return LOOM_DEVICE_UNSUPPORTED;
  } catch (const std::exception& e) {
    write_error(error, size, e.what());
    return LOOM_DEVICE_ERROR;
  } catch (...) {
    write_error(error, size, "unknown failure");
    return LOOM_DEVICE_ERROR;
  }
}

// With `throttle`, holds the caller until `work` at `rate` per second would have taken since
// `start`: the emulated device is never faster than the one it models.
void pace(const loom_device& device, clock::time_point start, double work, double rate) {
  if (!device.config.throttle) return;
  std::this_thread::sleep_until(start + std::chrono::duration_cast<clock::duration>(
                                            std::chrono::duration<double>(work / rate)));
}

void require_device_memory(const loom_device& device, const void* data, std::size_t bytes,
                           const char* what) {
  if (!device.pool.contains(data, bytes))
    throw std::invalid_argument(fmt::format("{} [{}, +{} bytes) is not in the memory of emu:{}",
                                            what, data, bytes, device.config.name));
}

std::size_t matrix_bytes(std::int64_t rows, std::int64_t cols, std::int64_t ld,
                         loom_device_dtype type) {
  if (rows == 0 || cols == 0) return 0;
  const std::size_t element = type == LOOM_DEVICE_F32 ? 4 : 2;
  return static_cast<std::size_t>((rows - 1) * ld + cols) * element;
}

loom_device_status describe(const char* name, const loom_device_param_value* values, size_t count,
                            loom_device_caps* caps, char* error, size_t error_size) {
  return guarded(error, error_size,
                 [&] { *caps = emu_caps(parse_emu_config(name, values, count)); });
}

loom_device* open(const char* name, const loom_device_param_value* values, size_t count,
                  char* error, size_t error_size) {
  loom_device* device = nullptr;
  guarded(error, error_size, [&] {
    auto config = parse_emu_config(name, values, count);
    const auto capacity = config.memory;
    device = new loom_device{std::move(config), emu_pool(capacity)};
  });
  return device;
}

void close(loom_device* device) { delete device; }

uint64_t memory_free(loom_device* device) { return device->pool.free_bytes(); }

loom_device_status alloc(loom_device* device, uint64_t bytes, void** memory, char* error,
                         size_t error_size) {
  *memory = device->pool.allocate(bytes);
  if (*memory != nullptr) return LOOM_DEVICE_OK;
  write_error(
      error, error_size,
      fmt::format("{} bytes wanted, {} bytes free", bytes, device->pool.free_bytes()).c_str());
  return LOOM_DEVICE_OUT_OF_MEMORY;
}

void free_block(loom_device* device, void* memory) {
  try {
    device->pool.free(static_cast<std::byte*>(memory));
  } catch (const std::exception& e) {
    // Freeing what was never allocated here corrupts whoever owns it: stop at once, as the C
    // library does on a double free.
    std::fprintf(stderr, "emu:%s: %s\n", device->config.name.c_str(), e.what());
    std::abort();
  }
}

loom_device_status alloc_host(loom_device* device, uint64_t bytes, void** memory, char* error,
                              size_t error_size) {
  return guarded(error, error_size, [&] { *memory = device->host.allocate(bytes); });
}

void free_host(loom_device* device, void* memory) { device->host.release(memory); }

loom_device_status copy_from_host(loom_device* device, const void* host, void* to, uint64_t bytes,
                                  char* error, size_t error_size) {
  return guarded(error, error_size, [&] {
    require_device_memory(*device, to, bytes, "copy_from_host: destination");
    const auto start = clock::now();
    std::memcpy(to, host, bytes);
    pace(*device, start, static_cast<double>(bytes), device->config.copy_bytes_per_s);
  });
}

loom_device_status copy_to_host(loom_device* device, const void* from, void* host, uint64_t bytes,
                                char* error, size_t error_size) {
  return guarded(error, error_size, [&] {
    require_device_memory(*device, from, bytes, "copy_to_host: source");
    const auto start = clock::now();
    std::memcpy(host, from, bytes);
    pace(*device, start, static_cast<double>(bytes), device->config.copy_bytes_per_s);
  });
}

// Within the device's own memory: as fast as the host's, an emulated device's memory bandwidth
// being far above its link's.
loom_device_status copy_within(loom_device* device, const void* from, void* to, uint64_t bytes,
                               char* error, size_t error_size) {
  return guarded(error, error_size, [&] {
    require_device_memory(*device, from, bytes, "copy_within: source");
    require_device_memory(*device, to, bytes, "copy_within: destination");
    std::memmove(to, from, bytes);
  });
}

loom_device_status matrix_product(loom_device* device, const loom_device_gemm* args, char* error,
                                  size_t error_size) {
  return guarded(error, error_size, [&] {
    const auto& g = *args;
    require_device_memory(*device, g.a, matrix_bytes(g.m, g.k, g.lda, g.type), "gemm: A");
    require_device_memory(*device, g.b, matrix_bytes(g.k, g.n, g.ldb, g.type), "gemm: B");
    require_device_memory(*device, g.c, matrix_bytes(g.m, g.n, g.ldc, g.out_type), "gemm: C");
    const auto start = clock::now();
    gemm(g, device->config.precision);
    const double rate = device->config.precision == emu_precision::f32
                            ? device->config.flops
                            : device->config.reduced_flops;
    pace(*device, start,
         2.0 * static_cast<double>(g.m) * static_cast<double>(g.n) * static_cast<double>(g.k),
         rate);
  });
}

loom_device_status detect(loom_device_found_fn found, void* context, char* error,
                          size_t error_size) {
  return guarded(error, error_size, [&] {
    const auto caps = emu_caps(parse_emu_config("emu", nullptr, 0));
    found(context, "emu", "emulated accelerator (plugin)", &caps);
  });
}

const loom_device_plugin table = {
    .kind = "emu",
    .summary =
        "emulated accelerator: pooled memory of its own, NPU-style reduced-precision "
        "matrix products, optional pacing to a declared bandwidth and throughput",
    .params = emu_params,
    .param_count = emu_param_count,
    .describe = describe,
    .open = open,
    .close = close,
    .memory_free = memory_free,
    .alloc = alloc,
    .free = free_block,
    .copy_from_host = copy_from_host,
    .copy_to_host = copy_to_host,
    .copy_within = copy_within,
    .query_caps = nullptr,
    .alloc_host = alloc_host,
    .free_host = free_host,
    .bind_thread = nullptr,
    .copy_from_peer = nullptr,
    .synchronize = nullptr,
    .event_record = nullptr,
    .event_wait = nullptr,
    .event_done = nullptr,
    .event_destroy = nullptr,
    .gemm = matrix_product,
    .detect = detect,
};

}  // namespace
}  // namespace loom::emu

extern "C" {

__attribute__((visibility("default"))) extern const uint32_t loom_device_plugin_abi_version =
    LOOM_DEVICE_PLUGIN_ABI_VERSION;

__attribute__((visibility("default"))) const loom_device_plugin* loom_device_plugin_describe(void) {
  return &loom::emu::table;
}
}
