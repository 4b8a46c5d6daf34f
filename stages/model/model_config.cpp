// The model config reader (see model_config.hpp): a JSON object parsed once with the strict JSON
// reader, and typed look-ups into it that word their own errors.
#include "stages/model/model_config.hpp"

#include <fstream>
#include <set>
#include <sstream>
#include <stdexcept>

#include <fmt/format.h>

#include "stages/json_text.hpp"
#include "stages/model/json_value.hpp"

namespace loom {
namespace {

// A key given twice would make the file mean whichever one a reader happens to pick.
void check_unique_keys(const std::string& source, const json_value& object, const std::string& prefix) {
  std::set<std::string_view> seen;
  for (const auto& [key, value] : object.members()) {
    if (!seen.insert(key).second)
      throw std::runtime_error(
          fmt::format("{}: key {} is given twice", source, json_string(prefix + key)));
    if (value.is_object()) check_unique_keys(source, value, prefix + key + ".");
  }
}

}  // namespace

model_config model_config::load(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error(fmt::format("{}: cannot open the model config", path));
  std::ostringstream text;
  text << in.rdbuf();
  return parse(text.str(), path);
}

model_config model_config::parse(std::string_view text, std::string source) {
  json_value root;
  try {
    root = parse_json(text);
  } catch (const json_error& e) {
    throw std::runtime_error(fmt::format("{}: not valid JSON: {}", source, e.what()));
  }
  if (!root.is_object())
    throw std::runtime_error(
        fmt::format("{}: the model config is {}, expected a JSON object", source, json_kind_name(root)));
  check_unique_keys(source, root, "");
  model_config config;
  config.source_ = std::move(source);
  config.root_ = std::make_shared<const json_value>(std::move(root));
  return config;
}

const json_value* model_config::find(std::string_view key) const {
  const json_value* node = root_.get();
  while (node) {
    const auto dot = key.find('.');
    node = node->find(key.substr(0, dot));
    if (dot == std::string_view::npos) return node;
    key.remove_prefix(dot + 1);
  }
  return nullptr;
}

bool model_config::contains(std::string_view key) const { return find(key) != nullptr; }

const json_value& model_config::require(std::string_view key) const {
  if (const auto* value = find(key)) return *value;
  throw std::runtime_error(fmt::format("{}: {} is missing", source_, json_string(key)));
}

void model_config::wrong_type(std::string_view key, const json_value& value,
                              std::string_view expected) const {
  throw std::runtime_error(fmt::format("{}: {} is {} ({}), expected {}", source_, json_string(key),
                                       json_kind_name(value), json_excerpt(value), expected));
}

std::int64_t model_config::integer(std::string_view key) const {
  const auto& value = require(key);
  if (!value.is_number() || !value.integer()) wrong_type(key, value, "an integer");
  return *value.integer();
}

double model_config::number(std::string_view key) const {
  const auto& value = require(key);
  if (!value.is_number()) wrong_type(key, value, "a number");
  return value.number();
}

const std::string& model_config::string(std::string_view key) const {
  const auto& value = require(key);
  if (!value.is_string()) wrong_type(key, value, "a string");
  return value.string();
}

bool model_config::boolean(std::string_view key) const {
  const auto& value = require(key);
  if (!value.is_boolean()) wrong_type(key, value, "true or false");
  return value.boolean();
}

std::int64_t model_config::integer(std::string_view key, std::int64_t fallback) const {
  return contains(key) ? integer(key) : fallback;
}

double model_config::number(std::string_view key, double fallback) const {
  return contains(key) ? number(key) : fallback;
}

std::string model_config::string(std::string_view key, std::string_view fallback) const {
  return contains(key) ? string(key) : std::string(fallback);
}

bool model_config::boolean(std::string_view key, bool fallback) const {
  return contains(key) ? boolean(key) : fallback;
}

}  // namespace loom
