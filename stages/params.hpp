// Stage parameters: what a stage type declares (key, type, default, documentation, limits)
// and the checked values one stage instance gets from its graph file.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace loom {

enum class param_type { boolean, integer, number, string, integer_list, number_list, string_list };

using param_value = std::variant<bool, std::int64_t, double, std::string, std::vector<std::int64_t>,
                                 std::vector<double>, std::vector<std::string>>;

std::string_view name_of(param_type type);
std::string to_toml(const param_value& value);

struct param_spec {
  std::string key;
  param_type type = param_type::integer;
  std::optional<param_value> default_value;  // none: the graph file must set it
  std::string doc;
  std::optional<double> min;          // integer and number parameters, list elements included
  std::optional<double> max;
  std::vector<std::string> choices;   // string parameters: the allowed spellings
};

// Declaration helpers, so a stage's spec reads as a table of its parameters.
param_spec boolean_param(std::string key, bool def, std::string doc);
param_spec integer_param(std::string key, std::optional<std::int64_t> def, std::string doc,
                         std::optional<double> min = std::nullopt,
                         std::optional<double> max = std::nullopt);
param_spec number_param(std::string key, std::optional<double> def, std::string doc,
                        std::optional<double> min = std::nullopt,
                        std::optional<double> max = std::nullopt);
param_spec string_param(std::string key, std::optional<std::string> def, std::string doc,
                        std::vector<std::string> choices = {});
param_spec integer_list_param(std::string key, std::optional<std::vector<std::int64_t>> def,
                              std::string doc, std::optional<double> min = std::nullopt);

// The parameters of one stage instance, every declared key present (defaults filled in).
class param_values {
 public:
  param_values() = default;
  explicit param_values(std::map<std::string, param_value, std::less<>> values)
      : values_(std::move(values)) {}

  bool boolean(std::string_view key) const { return get<bool>(key); }
  std::int64_t integer(std::string_view key) const { return get<std::int64_t>(key); }
  double number(std::string_view key) const { return get<double>(key); }
  const std::string& string(std::string_view key) const { return get<std::string>(key); }
  const std::vector<std::int64_t>& integers(std::string_view key) const {
    return get<std::vector<std::int64_t>>(key);
  }
  const std::vector<double>& numbers(std::string_view key) const {
    return get<std::vector<double>>(key);
  }
  const std::vector<std::string>& strings(std::string_view key) const {
    return get<std::vector<std::string>>(key);
  }

  bool has(std::string_view key) const { return values_.find(key) != values_.end(); }
  const std::map<std::string, param_value, std::less<>>& values() const { return values_; }

 private:
  template <class T>
  const T& get(std::string_view key) const;

  std::map<std::string, param_value, std::less<>> values_;
};

}  // namespace loom
