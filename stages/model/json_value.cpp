// The strict JSON reader (see json_value.hpp): a recursive descent over the text that tracks
// its position for error messages and refuses anything RFC 8259 does not allow.
#include "stages/model/json_value.hpp"

#include <charconv>
#include <cmath>
#include <cstdlib>

#include <fmt/format.h>

#include "stages/json_text.hpp"
#include "stages/model/unicode_classes.hpp"

namespace loom {
namespace {

// Deep enough for any real header or config; shallow enough that hostile nesting cannot
// exhaust the stack.
constexpr int max_depth = 64;

class parser {
 public:
  explicit parser(std::string_view text) : text_(text) {}

  json_value document() {
    skip_whitespace();
    json_value value = parse_value(0);
    skip_whitespace();
    if (pos_ != text_.size()) fail("unexpected text after the JSON value");
    return value;
  }

 private:
  [[noreturn]] void fail(std::string_view what) const { fail_at(pos_, what); }

  [[noreturn]] void fail_at(std::size_t at, std::string_view what) const {
    std::size_t line = 1, column = 1;
    for (std::size_t i = 0; i < at && i < text_.size(); ++i) {
      if (text_[i] == '\n') {
        ++line;
        column = 1;
      } else {
        ++column;
      }
    }
    throw json_error(fmt::format("line {}, column {}: {}", line, column, what));
  }

  bool at_end() const { return pos_ >= text_.size(); }
  char peek() const { return text_[pos_]; }

  void skip_whitespace() {
    while (!at_end() && (peek() == ' ' || peek() == '\t' || peek() == '\n' || peek() == '\r'))
      ++pos_;
  }

  void expect(char c) {
    if (at_end() || peek() != c) fail(fmt::format("expected '{}'", c));
    ++pos_;
  }

  json_value parse_value(int depth) {
    if (at_end()) fail("unexpected end of the text");
    switch (peek()) {
      case '{': return parse_object(depth + 1);
      case '[': return parse_array(depth + 1);
      case '"': return json_value::make_string(parse_string());
      case 't': parse_word("true"); return json_value::make_boolean(true);
      case 'f': parse_word("false"); return json_value::make_boolean(false);
      case 'n': parse_word("null"); return json_value();
      default:
        if (peek() == '-' || (peek() >= '0' && peek() <= '9')) return parse_number();
        fail("expected a value");
    }
  }

  void parse_word(std::string_view word) {
    if (text_.substr(pos_, word.size()) != word) fail("expected a value");
    pos_ += word.size();
  }

  json_value parse_object(int depth) {
    if (depth > max_depth) fail(fmt::format("nested deeper than {} levels", max_depth));
    ++pos_;
    std::vector<json_member> members;
    skip_whitespace();
    if (!at_end() && peek() == '}') {
      ++pos_;
      return json_value::make_object(std::move(members));
    }
    while (true) {
      skip_whitespace();
      if (at_end() || peek() != '"') fail("expected a string key");
      std::string key = parse_string();
      skip_whitespace();
      expect(':');
      skip_whitespace();
      members.push_back({std::move(key), parse_value(depth)});
      skip_whitespace();
      if (!at_end() && peek() == ',') {
        ++pos_;
        continue;
      }
      expect('}');
      return json_value::make_object(std::move(members));
    }
  }

  json_value parse_array(int depth) {
    if (depth > max_depth) fail(fmt::format("nested deeper than {} levels", max_depth));
    ++pos_;
    std::vector<json_value> items;
    skip_whitespace();
    if (!at_end() && peek() == ']') {
      ++pos_;
      return json_value::make_array(std::move(items));
    }
    while (true) {
      skip_whitespace();
      items.push_back(parse_value(depth));
      skip_whitespace();
      if (!at_end() && peek() == ',') {
        ++pos_;
        continue;
      }
      expect(']');
      return json_value::make_array(std::move(items));
    }
  }

  json_value parse_number() {
    const std::size_t start = pos_;
    auto digits = [&] {
      std::size_t first = pos_;
      while (!at_end() && peek() >= '0' && peek() <= '9') ++pos_;
      return pos_ - first;
    };
    if (peek() == '-') ++pos_;
    if (at_end() || peek() < '0' || peek() > '9') fail("expected a digit");
    if (peek() == '0') {
      ++pos_;
      if (!at_end() && peek() >= '0' && peek() <= '9') fail_at(start, "numbers have no leading zeros");
    } else {
      digits();
    }
    bool integral = true;
    if (!at_end() && peek() == '.') {
      ++pos_;
      integral = false;
      if (digits() == 0) fail("expected a digit after the decimal point");
    }
    if (!at_end() && (peek() == 'e' || peek() == 'E')) {
      ++pos_;
      integral = false;
      if (!at_end() && (peek() == '+' || peek() == '-')) ++pos_;
      if (digits() == 0) fail("expected a digit in the exponent");
    }
    const std::string literal(text_.substr(start, pos_ - start));
    // strtod rounds correctly and saturates to infinity out of range, which JSON cannot mean.
    const double value = std::strtod(literal.c_str(), nullptr);
    if (!std::isfinite(value)) fail_at(start, fmt::format("number {} is out of range", literal));
    std::optional<std::int64_t> integer;
    if (integral) {
      std::int64_t exact = 0;
      auto [end, error] = std::from_chars(literal.data(), literal.data() + literal.size(), exact);
      if (error == std::errc() && end == literal.data() + literal.size()) integer = exact;
    }
    return json_value::make_number(value, integer);
  }

  unsigned parse_hex4() {
    if (text_.size() - pos_ < 4) fail("expected four hex digits after \\u");
    unsigned value = 0;
    for (int i = 0; i < 4; ++i) {
      char c = text_[pos_++];
      value <<= 4;
      if (c >= '0' && c <= '9') value |= static_cast<unsigned>(c - '0');
      else if (c >= 'a' && c <= 'f') value |= static_cast<unsigned>(c - 'a' + 10);
      else if (c >= 'A' && c <= 'F') value |= static_cast<unsigned>(c - 'A' + 10);
      else fail_at(pos_ - 1, "expected four hex digits after \\u");
    }
    return value;
  }

  void parse_escape(std::string& out) {
    const std::size_t start = pos_ - 1;
    if (at_end()) fail("unterminated string");
    char c = text_[pos_++];
    switch (c) {
      case '"': out += '"'; return;
      case '\\': out += '\\'; return;
      case '/': out += '/'; return;
      case 'b': out += '\b'; return;
      case 'f': out += '\f'; return;
      case 'n': out += '\n'; return;
      case 'r': out += '\r'; return;
      case 't': out += '\t'; return;
      case 'u': break;
      default: fail_at(start, "invalid escape in a string");
    }
    unsigned code = parse_hex4();
    if (code >= 0xDC00 && code <= 0xDFFF) fail_at(start, "lone low surrogate in a string");
    if (code >= 0xD800 && code <= 0xDBFF) {
      if (text_.substr(pos_, 2) != "\\u") fail_at(start, "lone high surrogate in a string");
      pos_ += 2;
      unsigned low = parse_hex4();
      if (low < 0xDC00 || low > 0xDFFF) fail_at(start, "lone high surrogate in a string");
      code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00);
    }
    append_utf8(out, code);
  }

  // The length of the valid UTF-8 sequence at pos_, 0 if there is none (overlong forms and
  // surrogates are invalid).
  std::size_t utf8_sequence() const {
    auto byte = [&](std::size_t i) {
      return pos_ + i < text_.size() ? static_cast<unsigned char>(text_[pos_ + i]) : 0u;
    };
    auto continuation = [&](std::size_t i) { return (byte(i) & 0xC0) == 0x80; };
    const unsigned c = byte(0);
    if (c >= 0xC2 && c <= 0xDF) return continuation(1) ? 2 : 0;
    if (c >= 0xE0 && c <= 0xEF) {
      if (!continuation(1) || !continuation(2)) return 0;
      if ((c == 0xE0 && byte(1) < 0xA0) || (c == 0xED && byte(1) >= 0xA0)) return 0;
      return 3;
    }
    if (c >= 0xF0 && c <= 0xF4) {
      if (!continuation(1) || !continuation(2) || !continuation(3)) return 0;
      if ((c == 0xF0 && byte(1) < 0x90) || (c == 0xF4 && byte(1) >= 0x90)) return 0;
      return 4;
    }
    return 0;
  }

  std::string parse_string() {
    ++pos_;
    std::string out;
    while (true) {
      if (at_end()) fail("unterminated string");
      const auto c = static_cast<unsigned char>(peek());
      if (c == '"') {
        ++pos_;
        return out;
      }
      if (c == '\\') {
        ++pos_;
        parse_escape(out);
      } else if (c < 0x20) {
        fail("control character in a string");
      } else if (c < 0x80) {
        out += static_cast<char>(c);
        ++pos_;
      } else {
        const std::size_t length = utf8_sequence();
        if (length == 0) fail("invalid UTF-8 in a string");
        out.append(text_.substr(pos_, length));
        pos_ += length;
      }
    }
  }

  std::string_view text_;
  std::size_t pos_ = 0;
};

}  // namespace

json_value json_value::make_boolean(bool value) {
  json_value v;
  v.kind_ = kind::boolean;
  v.boolean_ = value;
  return v;
}

json_value json_value::make_number(double value, std::optional<std::int64_t> integer) {
  json_value v;
  v.kind_ = kind::number;
  v.number_ = value;
  v.integer_ = integer;
  return v;
}

json_value json_value::make_string(std::string value) {
  json_value v;
  v.kind_ = kind::string;
  v.string_ = std::move(value);
  return v;
}

json_value json_value::make_array(std::vector<json_value> items) {
  json_value v;
  v.kind_ = kind::array;
  v.items_ = std::move(items);
  return v;
}

json_value json_value::make_object(std::vector<json_member> members) {
  json_value v;
  v.kind_ = kind::object;
  v.members_ = std::move(members);
  return v;
}

const json_value* json_value::find(std::string_view key) const {
  for (const auto& member : members_)
    if (member.key == key) return &member.value;
  return nullptr;
}

json_value parse_json(std::string_view text) { return parser(text).document(); }

std::string json_kind_name(const json_value& value) {
  switch (value.type()) {
    case json_value::kind::null: return "null";
    case json_value::kind::boolean: return "a boolean";
    case json_value::kind::number: return value.integer() ? "an integer" : "a number";
    case json_value::kind::string: return "a string";
    case json_value::kind::array: return "an array";
    case json_value::kind::object: return "an object";
  }
  return "a value";
}

namespace {

void write_compact(const json_value& value, std::string& out) {
  switch (value.type()) {
    case json_value::kind::null: out += "null"; return;
    case json_value::kind::boolean: out += value.boolean() ? "true" : "false"; return;
    case json_value::kind::number:
      out += value.integer() ? fmt::format("{}", *value.integer()) : fmt::format("{}", value.number());
      return;
    case json_value::kind::string: out += json_string(value.string()); return;
    case json_value::kind::array:
      out += '[';
      for (std::size_t i = 0; i < value.items().size(); ++i) {
        if (i > 0) out += ", ";
        write_compact(value.items()[i], out);
      }
      out += ']';
      return;
    case json_value::kind::object:
      out += '{';
      for (std::size_t i = 0; i < value.members().size(); ++i) {
        if (i > 0) out += ", ";
        out += json_string(value.members()[i].key) + ": ";
        write_compact(value.members()[i].value, out);
      }
      out += '}';
      return;
  }
}

}  // namespace

std::string json_excerpt(const json_value& value) {
  constexpr std::size_t longest = 60;
  std::string out;
  write_compact(value, out);
  if (out.size() <= longest) return out;
  // Cut before a character, not inside one, so the message stays valid UTF-8.
  std::size_t cut = longest;
  while (cut > 0 && (static_cast<unsigned char>(out[cut]) & 0xC0) == 0x80) --cut;
  out = out.substr(0, cut) + "...";
  return out;
}

}  // namespace loom
