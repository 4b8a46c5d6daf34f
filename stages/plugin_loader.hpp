// Loads plugin libraries named in a graph file and lets them register their stage types.
#pragma once

#include <stdexcept>
#include <string>

#include "stages/registry.hpp"

namespace loom {

class plugin_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Loads the shared library at `path` (which must be absolute), checks its ABI version before
// calling anything in it, and runs its registration into `registry`; the types it adds have
// `path` as their origin. Loading the same file twice registers it once. Throws plugin_error
// naming the file: missing, not a shared library, no ABI version symbol, a different ABI
// version, no registration function, a failed registration, or a type name already taken; a
// failed load leaves `registry` unchanged. Libraries that registered stay loaded for the life of
// the process.
void load_plugin(const std::string& path, stage_registry& registry);

}  // namespace loom
