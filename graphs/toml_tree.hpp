// A parsed TOML document as a plain tree of loom's own, with where each key and value was
// written. Only graphs/parse_toml.cpp includes toml++ (with loom's own limits, see there); every
// other part of the loader, and every other translation unit, sees this tree instead.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "graphs/graph.hpp"

namespace loom {

// Shared, not copied, so that a node costs one pointer for its file name however long the path.
struct toml_position {
  std::shared_ptr<const std::string> file;
  int line = 0;
  int column = 0;

  source_position source() const { return {file ? *file : std::string(), line, column}; }
};

enum class toml_kind { table, array, string, integer, floating, boolean, date_time };

struct toml_entry;

struct toml_node {
  toml_kind kind = toml_kind::table;
  toml_position where;
  std::variant<std::monostate, bool, std::int64_t, double, std::string> scalar;
  std::vector<toml_node> items;     // array elements
  std::vector<toml_entry> entries;  // table entries

  bool is_table() const { return kind == toml_kind::table; }
  bool is_array() const { return kind == toml_kind::array; }
  const std::string& string() const { return std::get<std::string>(scalar); }
  std::int64_t integer() const { return std::get<std::int64_t>(scalar); }
  double floating() const { return std::get<double>(scalar); }
  bool boolean() const { return std::get<bool>(scalar); }

  // Table lookups; null when absent.
  const toml_entry* find(std::string_view key) const;
  toml_entry* find(std::string_view key);
  const toml_node* get(std::string_view key) const;
};

struct toml_entry {
  std::string key;
  toml_position where;  // of the key itself
  toml_node value;
};

// "a string", "an integer", ...: what a value is, for messages like "must be X, not Y".
std::string_view kind_phrase(toml_kind kind);

}  // namespace loom
