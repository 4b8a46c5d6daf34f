// Stage types by name: the built-in ones and those that plugins add.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "stages/stage.hpp"

namespace loom {

class stage_registry {
 public:
  // Adds a type; throws std::invalid_argument if the name is taken or the spec is malformed
  // (no factory, duplicate port or parameter names, a parameter named like a stage key such
  // as `device`, a single input not called "in" or a single output not called "out").
  void add(stage_spec spec, std::string origin = "built-in");

  const stage_spec* find(std::string_view type) const;
  // Where a type came from: "built-in" or the plugin file that registered it.
  const std::string& origin(std::string_view type) const;
  std::vector<const stage_spec*> all() const;  // sorted by name

  // A registry holding synthetic_source, passthrough and null_sink.
  static stage_registry with_builtins();

 private:
  struct entry {
    stage_spec spec;
    std::string origin;
  };
  std::map<std::string, entry, std::less<>> types_;
};

void register_builtin_stages(stage_registry& registry);

}  // namespace loom
