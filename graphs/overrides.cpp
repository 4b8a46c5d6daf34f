// Applies --set overrides to a parsed graph file.
#include "graphs/overrides.hpp"

#include <fmt/format.h>

#include "graphs/parse_toml.hpp"
#include "graphs/read_values.hpp"
#include "graphs/suggest.hpp"

namespace loom {
namespace {

std::vector<std::string> split_key(std::string_view key) {
  std::vector<std::string> parts;
  std::size_t start = 0;
  while (true) {
    auto dot = key.find('.', start);
    parts.emplace_back(key.substr(start, dot - start));
    if (dot == std::string_view::npos) return parts;
    start = dot + 1;
  }
}

toml_node new_table(const toml_position& where) {
  toml_node table;
  table.kind = toml_kind::table;
  table.where = where;
  return table;
}

void apply_override(toml_node& root, const std::string& text, int ordinal,
                    std::vector<diagnostic>& errors) {
  static const auto file = std::make_shared<const std::string>(override_file);
  auto at = [&](std::size_t offset) {
    return toml_position{file, ordinal, static_cast<int>(offset) + 1};
  };
  auto equals = text.find('=');
  auto parts = split_key(std::string_view(text).substr(0, equals));
  bool empty_part = false;
  for (const auto& p : parts) empty_part = empty_part || p.empty();
  if (equals == std::string::npos || parts.size() < 2 || empty_part) {
    add_error(errors, at(0),
              fmt::format("override '{}' must look like stage.param=value", text));
    return;
  }

  auto* stages = root.find("stages");
  auto* stage = stages != nullptr && stages->value.is_table() ? stages->value.find(parts[0])
                                                              : nullptr;
  if (stage == nullptr) {
    std::vector<std::string> names;
    if (stages != nullptr)
      for (const auto& e : stages->value.entries) names.push_back(e.key);
    add_error(errors, at(0),
              unknown_name_message(
                  fmt::format("override '{}' names unknown stage '{}'", text, parts[0]),
                  parts[0], names, "stages"));
    return;
  }

  // Walk to the table that receives the last part, creating tables the file leaves out.
  toml_node* table = &stage->value;
  std::size_t offset = parts[0].size() + 1;
  for (std::size_t i = 1; i + 1 < parts.size(); ++i) {
    if (!table->is_table()) break;
    auto* next = table->find(parts[i]);
    if (next == nullptr) {
      table->entries.push_back({parts[i], at(offset), new_table(at(offset))});
      next = &table->entries.back();
    }
    table = &next->value;
    offset += parts[i].size() + 1;
  }
  if (!table->is_table()) {
    add_error(errors, at(0),
              fmt::format("override '{}' sets a key inside '{}', which is {}, not a table", text,
                          text.substr(0, offset - 1), kind_phrase(table->kind)));
    return;
  }

  auto value_text = std::string_view(text).substr(equals + 1);
  auto value_where = at(equals + 1);
  auto value = parse_toml_value(value_text, value_where);
  if (!value) {
    value.emplace();
    value->kind = toml_kind::string;
    value->where = value_where;
    value->scalar = std::string(value_text);
  }
  const auto& key = parts.back();
  if (auto* existing = table->find(key)) {
    existing->where = at(offset);
    existing->value = std::move(*value);
  } else {
    table->entries.push_back({key, at(offset), std::move(*value)});
  }
}

}  // namespace

void apply_overrides(toml_node& root, const std::vector<std::string>& overrides,
                     std::vector<diagnostic>& errors) {
  for (std::size_t i = 0; i < overrides.size(); ++i)
    apply_override(root, overrides[i], static_cast<int>(i) + 1, errors);
}

}  // namespace loom
