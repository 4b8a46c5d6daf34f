// Lookups in the loader's TOML tree, and the words used to name what a value is.
#include "graphs/toml_tree.hpp"

namespace loom {

const toml_entry* toml_node::find(std::string_view key) const {
  for (const auto& e : entries)
    if (e.key == key) return &e;
  return nullptr;
}

toml_entry* toml_node::find(std::string_view key) {
  for (auto& e : entries)
    if (e.key == key) return &e;
  return nullptr;
}

const toml_node* toml_node::get(std::string_view key) const {
  const auto* e = find(key);
  return e ? &e->value : nullptr;
}

std::string_view kind_phrase(toml_kind kind) {
  switch (kind) {
    case toml_kind::table: return "a table";
    case toml_kind::array: return "a list";
    case toml_kind::string: return "a string";
    case toml_kind::integer: return "an integer";
    case toml_kind::floating: return "a floating-point number";
    case toml_kind::boolean: return "a boolean";
    case toml_kind::date_time: return "a date or time";
  }
  return "a value";
}

}  // namespace loom
