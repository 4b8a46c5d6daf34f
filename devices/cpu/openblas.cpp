#include "devices/cpu/openblas.hpp"

#include <dlfcn.h>

#include <stdexcept>

#include <fmt/format.h>

#include "devices/library_symbol.hpp"

namespace loom {
namespace {

constexpr const char* soname = "libopenblas.so.0";

openblas_api open_library() {
  // Never closed: its threads live as long as the process.
  void* library = dlopen(soname, RTLD_NOW | RTLD_LOCAL);
  if (!library)
    throw std::runtime_error(fmt::format(
        "cannot open OpenBLAS ({}) for a matrix product: {}; install it with `sudo apt-get "
        "install libopenblas0` (scripts/install-deps.sh does, through libopenblas-dev)",
        soname, dlerror()));
  openblas_api api;
  resolve_symbol(library, soname, "cblas_sgemm", api.sgemm);
  resolve_symbol(library, soname, "openblas_set_num_threads", api.set_num_threads);
  return api;
}

}  // namespace

// A failed open is tried again at the next call: a static whose initialisation throws is not
// initialised.
const openblas_api& openblas() {
  static const openblas_api api = open_library();
  return api;
}

}  // namespace loom
