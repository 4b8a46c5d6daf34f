// A small, strict JSON reader for the two JSON documents model support reads: the header of a
// safetensors file and a model's config.json. The header comes from files we do not control, so
// the reader accepts exactly RFC 8259 (no comments, no trailing commas, no NaN, valid UTF-8) and
// bounds nesting depth, and every error names the line and column where the text went wrong.
// Objects keep their members in file order, duplicates included, so that callers can report a
// duplicate key in their own words (a tensor listed twice, a config key given twice).
#pragma once

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace loom {

// Malformed JSON text: the message is "line L, column C: what was wrong".
class json_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct json_member;

class json_value {
 public:
  enum class kind { null, boolean, number, string, array, object };

  json_value() = default;
  static json_value make_boolean(bool value);
  // `integer` is set when the literal has no fraction or exponent and fits in 64 bits.
  static json_value make_number(double value, std::optional<std::int64_t> integer);
  static json_value make_string(std::string value);
  static json_value make_array(std::vector<json_value> items);
  static json_value make_object(std::vector<json_member> members);

  kind type() const { return kind_; }
  bool is_null() const { return kind_ == kind::null; }
  bool is_boolean() const { return kind_ == kind::boolean; }
  bool is_number() const { return kind_ == kind::number; }
  bool is_string() const { return kind_ == kind::string; }
  bool is_array() const { return kind_ == kind::array; }
  bool is_object() const { return kind_ == kind::object; }

  // Each accessor assumes the matching kind; callers check first, to word their own errors.
  bool boolean() const { return boolean_; }
  double number() const { return number_; }
  std::optional<std::int64_t> integer() const { return integer_; }
  const std::string& string() const { return string_; }
  const std::vector<json_value>& items() const { return items_; }
  const std::vector<json_member>& members() const { return members_; }

  // The first member called `key` of an object; null for a missing key or a non-object.
  const json_value* find(std::string_view key) const;

 private:
  kind kind_ = kind::null;
  bool boolean_ = false;
  double number_ = 0;
  std::optional<std::int64_t> integer_;
  std::string string_;
  std::vector<json_value> items_;
  std::vector<json_member> members_;
};

struct json_member {
  std::string key;
  json_value value;
};

// Parses one JSON document; whitespace may surround it, nothing else. Throws json_error.
json_value parse_json(std::string_view text);

// "an integer", "a string", "an object", ... for messages that say what was found.
std::string json_kind_name(const json_value& value);

// The value as compact JSON text, cut after 60 bytes, for messages that quote what was found.
std::string json_excerpt(const json_value& value);

}  // namespace loom
