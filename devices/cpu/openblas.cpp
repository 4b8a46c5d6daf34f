#include "devices/cpu/openblas.hpp"

#include <dlfcn.h>

#include <stdexcept>
#include <string>

#include <fmt/format.h>

namespace loom {
namespace {

constexpr const char* library = "libopenblas.so.0";

[[noreturn]] void cannot_open(const std::string& why) {
  throw std::runtime_error(fmt::format(
      "cannot open OpenBLAS ({}) for a matrix product: {}; install it with "
      "`sudo apt-get install libopenblas0` (scripts/install-deps.sh does, through libopenblas-dev)",
      library, why));
}

template <class Function>
void find(void* handle, const char* name, Function& into) {
  into = reinterpret_cast<Function>(dlsym(handle, name));
  if (!into) cannot_open(fmt::format("it has no {}", name));
}

openblas_api open_library() {
  // Never closed: its threads live as long as the process.
  void* handle = dlopen(library, RTLD_NOW | RTLD_LOCAL);
  if (!handle) cannot_open(dlerror());
  openblas_api api;
  find(handle, "cblas_sgemm", api.sgemm);
  find(handle, "openblas_set_num_threads", api.set_num_threads);
  return api;
}

}  // namespace

const openblas_api& openblas() {
  static const openblas_api api = open_library();
  return api;
}

}  // namespace loom
