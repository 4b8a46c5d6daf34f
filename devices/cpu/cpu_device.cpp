#include "devices/cpu/cpu_device.hpp"

#include <cblas.h>
#include <unistd.h>

#include <cstring>
#include <stdexcept>

#include <fmt/format.h>

#include "devices/cpu_affinity.hpp"

namespace loom {

cpu_device::cpu_device(std::string name, std::vector<int> cores, device_caps caps)
    : device(std::move(name), "cpu", std::move(caps)), cores_(std::move(cores)) {}

std::size_t cpu_device::memory_free() const {
  return static_cast<std::size_t>(sysconf(_SC_AVPHYS_PAGES)) *
         static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
}

buffer cpu_device::allocate(std::size_t bytes) { return buffer::allocate(bytes); }

void cpu_device::copy_from_host(const std::byte* host, std::byte* to, std::size_t bytes) {
  std::memcpy(to, host, bytes);
}

void cpu_device::copy_to_host(const std::byte* from, std::byte* host, std::size_t bytes) {
  std::memcpy(host, from, bytes);
}

void cpu_device::copy_within(const std::byte* from, std::byte* to, std::size_t bytes) {
  std::memcpy(to, from, bytes);
}

void cpu_device::bind_thread() {
  if (!cores_.empty()) pin_current_thread(cores_);
}

void cpu_device::gemm(const gemm_args& args) {
  if (args.type != dtype::f32 || args.out_type != dtype::f32)
    throw std::invalid_argument(fmt::format("device '{}' multiplies f32 matrices, not {}", name(),
                                            name_of(args.type)));
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, static_cast<int>(args.m),
              static_cast<int>(args.n), static_cast<int>(args.k), args.alpha,
              reinterpret_cast<const float*>(args.a), static_cast<int>(args.lda),
              reinterpret_cast<const float*>(args.b), static_cast<int>(args.ldb), args.beta,
              reinterpret_cast<float*>(args.c), static_cast<int>(args.ldc));
}

device& host_device() {
  static cpu_device cpu("cpu", {}, device_caps{});
  return cpu;
}

}  // namespace loom
