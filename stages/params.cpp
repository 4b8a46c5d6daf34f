#include "stages/params.hpp"

#include <stdexcept>

#include <fmt/format.h>
#include <fmt/ranges.h>

namespace loom {

std::string_view name_of(param_type type) {
  switch (type) {
    case param_type::boolean: return "boolean";
    case param_type::integer: return "integer";
    case param_type::number: return "number";
    case param_type::string: return "string";
    case param_type::integer_list: return "list of integers";
    case param_type::number_list: return "list of numbers";
    case param_type::string_list: return "list of strings";
  }
  return "?";
}

namespace {

std::string quoted(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

}  // namespace

std::string to_toml(const param_value& value) {
  struct {
    std::string operator()(bool b) const { return b ? "true" : "false"; }
    std::string operator()(std::int64_t i) const { return std::to_string(i); }
    std::string operator()(double d) const { return fmt::format("{}", d); }
    std::string operator()(const std::string& s) const { return quoted(s); }
    std::string operator()(const std::vector<std::int64_t>& v) const {
      return fmt::format("[{}]", fmt::join(v, ", "));
    }
    std::string operator()(const std::vector<double>& v) const {
      return fmt::format("[{}]", fmt::join(v, ", "));
    }
    std::string operator()(const std::vector<std::string>& v) const {
      std::vector<std::string> q;
      for (const auto& s : v) q.push_back(quoted(s));
      return fmt::format("[{}]", fmt::join(q, ", "));
    }
  } visitor;
  return std::visit(visitor, value);
}

param_spec boolean_param(std::string key, bool def, std::string doc) {
  return {std::move(key), param_type::boolean, def, std::move(doc), {}, {}, {}};
}

param_spec integer_param(std::string key, std::optional<std::int64_t> def, std::string doc,
                         std::optional<double> min, std::optional<double> max) {
  param_spec p{std::move(key), param_type::integer, std::nullopt, std::move(doc), min, max, {}};
  if (def) p.default_value = *def;
  return p;
}

param_spec number_param(std::string key, std::optional<double> def, std::string doc,
                        std::optional<double> min, std::optional<double> max) {
  param_spec p{std::move(key), param_type::number, std::nullopt, std::move(doc), min, max, {}};
  if (def) p.default_value = *def;
  return p;
}

param_spec string_param(std::string key, std::optional<std::string> def, std::string doc,
                        std::vector<std::string> choices) {
  param_spec p{std::move(key), param_type::string, std::nullopt, std::move(doc), {}, {},
               std::move(choices)};
  if (def) p.default_value = *def;
  return p;
}

param_spec integer_list_param(std::string key, std::optional<std::vector<std::int64_t>> def,
                              std::string doc, std::optional<double> min) {
  param_spec p{std::move(key), param_type::integer_list, std::nullopt, std::move(doc), min, {}, {}};
  if (def) p.default_value = *def;
  return p;
}

template <class T>
const T& param_values::get(std::string_view key) const {
  auto it = values_.find(key);
  if (it == values_.end()) throw std::out_of_range(fmt::format("no parameter '{}'", key));
  if (auto* v = std::get_if<T>(&it->second)) return *v;
  throw std::invalid_argument(fmt::format("parameter '{}' is not of the requested type", key));
}

template const bool& param_values::get<bool>(std::string_view) const;
template const std::int64_t& param_values::get<std::int64_t>(std::string_view) const;
template const double& param_values::get<double>(std::string_view) const;
template const std::string& param_values::get<std::string>(std::string_view) const;
template const std::vector<std::int64_t>& param_values::get<std::vector<std::int64_t>>(std::string_view) const;
template const std::vector<double>& param_values::get<std::vector<double>>(std::string_view) const;
template const std::vector<std::string>& param_values::get<std::vector<std::string>>(std::string_view) const;

}  // namespace loom
