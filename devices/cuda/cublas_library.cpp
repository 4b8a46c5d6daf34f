#include "devices/cuda/cublas_library.hpp"

#include <dlfcn.h>

#include <mutex>
#include <stdexcept>
#include <string>

#include <fmt/format.h>

#include "devices/library_symbol.hpp"

namespace loom {
namespace {

// The soname of the toolkit loom was built with: its API, and the driver it needs, are that one's.
constexpr const char* soname = "libcublas.so." LOOM_CUBLAS_MAJOR;

template <class Function>
void resolve(void* library, const char* symbol, Function& into) {
  resolve_symbol(library, soname, symbol, into);
}

cublas_library load() {
  void* library = dlopen(soname, RTLD_NOW | RTLD_LOCAL);
  if (library == nullptr)
    throw std::runtime_error(fmt::format(
        "matrix products on cuda need cuBLAS, and {} could not be loaded: {} (is the CUDA "
        "toolkit's library directory on the loader's path?)",
        soname, dlerror()));
  // Kept loaded for the life of the process: handles and streams outlive any one device.
  cublas_library table{};
  resolve(library, "cublasCreate_v2", table.create);
  resolve(library, "cublasDestroy_v2", table.destroy);
  resolve(library, "cublasSetStream_v2", table.set_stream);
  resolve(library, "cublasSetMathMode", table.set_math_mode);
  resolve(library, "cublasSgemm_v2", table.sgemm);
  resolve(library, "cublasGemmEx", table.gemm_ex);
  resolve(library, "cublasGetStatusName", table.status_name);
  resolve(library, "cublasGetStatusString", table.status_string);
  return table;
}

}  // namespace

const cublas_library& cublas() {
  // A failed load is not remembered as done: std::call_once retries after an exception.
  static std::once_flag once;
  static cublas_library table;
  std::call_once(once, [] { table = load(); });
  return table;
}

}  // namespace loom
