// Resolving the entry points of a library that loom opens itself with dlopen (cuBLAS, OpenBLAS),
// so that a process pays for the library only when it first needs it.
#pragma once

#include <dlfcn.h>

#include <stdexcept>

#include <fmt/format.h>

namespace loom {

// Points `into` at `symbol` of `library` (a dlopen handle of `soname`); throws
// std::runtime_error naming both when the library has no such entry.
template <class Function>
void resolve_symbol(void* library, const char* soname, const char* symbol, Function& into) {
  into = reinterpret_cast<Function>(dlsym(library, symbol));
  if (into == nullptr)
    throw std::runtime_error(fmt::format("{} has no entry '{}'", soname, symbol));
}

}  // namespace loom
