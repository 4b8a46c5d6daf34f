// Checks the parameters of a stage or a device against what its type declares: unknown keys
// (with a suggestion), types (an integer serves where a number is wanted; lists element by
// element), limits, allowed spellings, and required parameters that were left out. Defaults fill
// in the rest.
#include "graphs/check_params.hpp"

#include <algorithm>
#include <cmath>
#include <map>

#include <fmt/format.h>

#include "graphs/read_values.hpp"
#include "graphs/suggest.hpp"

namespace loom {
namespace {

class param_checker {
 public:
  param_checker(const param_spec& spec, std::string what, std::vector<diagnostic>& errors)
      : spec_(spec), what_(std::move(what)), errors_(errors) {}

  std::optional<param_value> read(const toml_node& node) {
    switch (spec_.type) {
      case param_type::boolean:
        if (!expect_kind(node, toml_kind::boolean, what_, errors_)) return std::nullopt;
        return node.boolean();
      case param_type::integer:
        return integer(node, what_);
      case param_type::number:
        return number(node, what_);
      case param_type::string:
        return string(node, what_);
      case param_type::integer_list:
        return list<std::int64_t>(node, [&](const toml_node& n, const std::string& w) {
          return integer(n, w);
        });
      case param_type::number_list:
        return list<double>(node, [&](const toml_node& n, const std::string& w) {
          return number(n, w);
        });
      case param_type::string_list:
        return list<std::string>(node, [&](const toml_node& n, const std::string& w) {
          return string(n, w);
        });
    }
    return std::nullopt;
  }

 private:
  std::optional<std::int64_t> integer(const toml_node& node, const std::string& what) {
    if (!expect_kind(node, toml_kind::integer, what, errors_)) return std::nullopt;
    if (!within_limits(node, static_cast<double>(node.integer()), what)) return std::nullopt;
    return node.integer();
  }

  std::optional<double> number(const toml_node& node, const std::string& what) {
    auto value = read_number(node, what, errors_);
    if (!value || !within_limits(node, *value, what)) return std::nullopt;
    return value;
  }

  std::optional<std::string> string(const toml_node& node, const std::string& what) {
    if (spec_.choices.empty()) return read_string(node, what, errors_);
    return read_choice(node, what, spec_.choices, errors_);
  }

  template <class T, class Element>
  std::optional<param_value> list(const toml_node& node, Element element) {
    if (!node.is_array()) {
      add_error(errors_, node.where,
                fmt::format("{} must be {}, not {}", what_, article_name(spec_.type),
                            kind_phrase(node.kind)));
      return std::nullopt;
    }
    std::vector<T> values;
    bool ok = true;
    for (std::size_t i = 0; i < node.items.size(); ++i) {
      auto value = element(node.items[i], fmt::format("element {} of {}", i + 1, what_));
      if (value)
        values.push_back(*value);
      else
        ok = false;
    }
    if (!ok) return std::nullopt;
    return values;
  }

  bool within_limits(const toml_node& node, double value, const std::string& what) {
    if (spec_.min && value < *spec_.min) {
      add_error(errors_, node.where,
                fmt::format("{} must be at least {}, not {}", what, *spec_.min, value));
      return false;
    }
    if (spec_.max && value > *spec_.max) {
      add_error(errors_, node.where,
                fmt::format("{} must be at most {}, not {}", what, *spec_.max, value));
      return false;
    }
    return true;
  }

  static std::string article_name(param_type type) {
    auto name = name_of(type);
    bool vowel = !name.empty() && std::string_view("aeiou").find(name[0]) != std::string_view::npos;
    return fmt::format("{} {}", vowel ? "an" : "a", name);
  }

  const param_spec& spec_;
  std::string what_;
  std::vector<diagnostic>& errors_;
};

}  // namespace

checked_params check_params(const toml_node& table, const param_owner& owner,
                            const std::vector<std::string>& own_keys,
                            std::vector<diagnostic>& errors) {
  std::map<std::string, param_value, std::less<>> values;
  std::size_t errors_before = errors.size();
  std::vector<std::string> candidates;
  for (const auto& p : owner.params) candidates.push_back(p.key);
  std::vector<std::string> param_keys = candidates;
  candidates.insert(candidates.end(), own_keys.begin(), own_keys.end());
  auto declared = [&](std::string_view key) -> const param_spec* {
    for (const auto& p : owner.params)
      if (p.key == key) return &p;
    return nullptr;
  };

  for (const auto& entry : table.entries) {
    if (std::find(own_keys.begin(), own_keys.end(), entry.key) != own_keys.end()) continue;
    const auto* param = declared(entry.key);
    if (param == nullptr) {
      // Suggestions include the owner's own keys ("replica" for "replicas"); the list does not.
      auto message = fmt::format("unknown {} '{}' for {} ({})", owner.word, entry.key,
                                 owner.owner, owner.type);
      if (auto guess = closest_match(entry.key, candidates))
        message += fmt::format("; did you mean '{}'?", *guess);
      else if (param_keys.empty())
        message += "; it takes none";
      else
        message += fmt::format("; its parameters are {}", name_list(param_keys));
      add_error(errors, entry.where, std::move(message));
      continue;
    }
    param_checker checker(*param, fmt::format("{} '{}' of {}", owner.word, entry.key, owner.owner),
                          errors);
    if (auto value = checker.read(entry.value)) values.emplace(entry.key, std::move(*value));
  }

  for (const auto& param : owner.params) {
    if (table.find(param.key) != nullptr) continue;
    if (param.default_value) {
      values.emplace(param.key, *param.default_value);
    } else {
      add_error(errors, table.where,
                fmt::format("{} ({}) is missing required parameter '{}'{}", owner.owner,
                            owner.type, param.key,
                            param.doc.empty() ? "" : fmt::format(" ({})", param.doc)));
    }
  }
  return {param_values(std::move(values)), errors.size() == errors_before};
}

}  // namespace loom
