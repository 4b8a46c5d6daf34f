// Typed reads from the loader's TOML tree, each failure reported with what was expected.
#include "graphs/read_values.hpp"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "graphs/suggest.hpp"

namespace loom {

void add_error(std::vector<diagnostic>& errors, const toml_position& where, std::string message) {
  errors.push_back({where.source(), std::move(message)});
}

bool expect_kind(const toml_node& node, toml_kind kind, std::string_view what,
                 std::vector<diagnostic>& errors) {
  if (node.kind == kind) return true;
  add_error(errors, node.where,
            fmt::format("{} must be {}, not {}", what, kind_phrase(kind), kind_phrase(node.kind)));
  return false;
}

std::optional<std::string> read_string(const toml_node& node, std::string_view what,
                                       std::vector<diagnostic>& errors) {
  if (!expect_kind(node, toml_kind::string, what, errors)) return std::nullopt;
  return node.string();
}

std::optional<std::int64_t> read_integer(const toml_node& node, std::string_view what,
                                         std::int64_t min, std::int64_t max,
                                         std::vector<diagnostic>& errors) {
  if (!expect_kind(node, toml_kind::integer, what, errors)) return std::nullopt;
  auto value = node.integer();
  if (value < min) {
    add_error(errors, node.where, fmt::format("{} must be at least {}, not {}", what, min, value));
    return std::nullopt;
  }
  if (value > max) {
    add_error(errors, node.where, fmt::format("{} must be at most {}, not {}", what, max, value));
    return std::nullopt;
  }
  return value;
}

std::optional<double> read_number(const toml_node& node, std::string_view what,
                                  std::vector<diagnostic>& errors) {
  double value = 0;
  if (node.kind == toml_kind::integer) {
    value = static_cast<double>(node.integer());
  } else if (node.kind == toml_kind::floating) {
    value = node.floating();
  } else {
    add_error(errors, node.where,
              fmt::format("{} must be a number, not {}", what, kind_phrase(node.kind)));
    return std::nullopt;
  }
  if (!std::isfinite(value)) {
    add_error(errors, node.where, fmt::format("{} must be a finite number, not {}", what, value));
    return std::nullopt;
  }
  return value;
}

std::optional<double> read_positive_number(const toml_node& node, std::string_view what,
                                           std::vector<diagnostic>& errors) {
  auto value = read_number(node, what, errors);
  if (value && *value <= 0) {
    add_error(errors, node.where,
              fmt::format("{} must be a number greater than 0, not {}", what, *value));
    return std::nullopt;
  }
  return value;
}

std::optional<std::string> read_choice(const toml_node& node, std::string_view what,
                                       const std::vector<std::string>& choices,
                                       std::vector<diagnostic>& errors) {
  auto value = read_string(node, what, errors);
  if (!value) return std::nullopt;
  if (std::find(choices.begin(), choices.end(), *value) != choices.end()) return value;
  add_error(errors, node.where,
            fmt::format("{} must be one of {}, not '{}'", what, name_list(choices), *value));
  return std::nullopt;
}

void check_keys(const toml_node& table, const std::vector<std::string>& known,
                std::string_view context, std::vector<diagnostic>& errors) {
  for (const auto& entry : table.entries) {
    if (std::find(known.begin(), known.end(), entry.key) != known.end()) continue;
    add_error(errors, entry.where,
              unknown_name_message(fmt::format("unknown key '{}' in {}", entry.key, context),
                                   entry.key, known, "known keys"));
  }
}

}  // namespace loom
