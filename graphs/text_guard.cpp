// A single pass over a graph file's bytes before toml++ sees them. It validates UTF-8 itself
// (toml++ places such errors one character early) and counts the parts of every dotted key or
// table header. It follows just enough TOML to tell keys from strings and comments: a dot only
// counts outside strings and comments, and a key ends at '=', ',', a bracket, a brace, a comment
// or the end of the line. A value like 1.5 is a two-part "key" to it, which is harmless.
#include "graphs/text_guard.hpp"

#include <fmt/format.h>

namespace loom {
namespace {

// Length of the UTF-8 sequence starting at text[i], or 0 when it is not valid UTF-8 (overlong
// forms, surrogates and code points past U+10FFFF included).
std::size_t utf8_length(std::string_view text, std::size_t i) {
  auto in_range = [&](std::size_t k, unsigned low, unsigned high) {
    if (k >= text.size()) return false;
    auto b = static_cast<unsigned char>(text[k]);
    return b >= low && b <= high;
  };
  auto c = static_cast<unsigned char>(text[i]);
  auto tail = [&](std::size_t from, std::size_t count) {
    for (std::size_t k = from; k < i + count; ++k)
      if (!in_range(k, 0x80, 0xBF)) return false;
    return true;
  };
  if (c < 0x80) return 1;
  if (c >= 0xC2 && c <= 0xDF) return tail(i + 1, 2) ? 2 : 0;
  if (c == 0xE0) return in_range(i + 1, 0xA0, 0xBF) && tail(i + 2, 3) ? 3 : 0;
  if (c == 0xED) return in_range(i + 1, 0x80, 0x9F) && tail(i + 2, 3) ? 3 : 0;
  if (c >= 0xE1 && c <= 0xEF) return tail(i + 1, 3) ? 3 : 0;
  if (c == 0xF0) return in_range(i + 1, 0x90, 0xBF) && tail(i + 2, 4) ? 4 : 0;
  if (c >= 0xF1 && c <= 0xF3) return tail(i + 1, 4) ? 4 : 0;
  if (c == 0xF4) return in_range(i + 1, 0x80, 0x8F) && tail(i + 2, 4) ? 4 : 0;
  return 0;
}

std::size_t count_repeats(std::string_view text, std::size_t i, char c) {
  std::size_t n = 0;
  while (i + n < text.size() && text[i + n] == c) ++n;
  return n;
}

class text_scanner {
 public:
  text_scanner(std::string_view text, const std::string& file) : text_(text), file_(file) {}

  std::optional<diagnostic> scan() {
    while (i_ < text_.size()) {
      auto c = static_cast<unsigned char>(text_[i_]);
      if (c == 0) return error(line_, column_, "NUL byte; graph files are UTF-8 text");
      std::size_t length = utf8_length(text_, i_);
      if (length == 0)
        return error(line_, column_,
                     fmt::format("invalid UTF-8 (byte 0x{:02x}); graph files are UTF-8 text", c));
      consumed_ = length;
      if (auto d = step(static_cast<char>(c))) return d;
      // Everything consumed in one step lies on one line except a lone newline.
      if (c == '\n') {
        ++line_;
        column_ = 1;
      } else {
        column_ += consumed_ == length ? 1 : static_cast<int>(consumed_);
      }
      i_ += consumed_;
    }
    return end_key();
  }

 private:
  enum class state { code, comment, basic, literal, multiline_basic, multiline_literal };

  std::optional<diagnostic> step(char c) {
    bool basic = state_ == state::basic || state_ == state::multiline_basic;
    bool multiline = state_ == state::multiline_basic || state_ == state::multiline_literal;
    switch (state_) {
      case state::code:
        return code(c);
      case state::comment:
        if (c == '\n') state_ = state::code;
        return std::nullopt;
      default:
        break;
    }
    if (!multiline && c == '\n') {
      // An unterminated string ends with its line; toml++ reports it.
      state_ = state::code;
      return end_key();
    }
    // Only these two escapes could hide the closing quote from us.
    if (basic && c == '\\' && i_ + 1 < text_.size() &&
        (text_[i_ + 1] == '"' || text_[i_ + 1] == '\\')) {
      consumed_ = 2;
      return std::nullopt;
    }
    char quote = basic ? '"' : '\'';
    if (c != quote) return std::nullopt;
    if (!multiline) {
      state_ = state::code;
      return std::nullopt;
    }
    // A multi-line string may end with up to two quotes of its own before the closing three.
    consumed_ = count_repeats(text_, i_, quote);
    if (consumed_ >= 3) state_ = state::code;
    return std::nullopt;
  }

  std::optional<diagnostic> code(char c) {
    switch (c) {
      case '\n': case '#': case '=': case ',': case '{': case '}': case '[': case ']':
        if (c == '#') state_ = state::comment;
        return end_key();
      case ' ': case '\t': case '\r':
        return std::nullopt;
      default:
        break;
    }
    if (!in_key_) {
      in_key_ = true;
      key_line_ = line_;
      key_column_ = column_;
      dots_ = 0;
    }
    if (c == '.') {
      ++dots_;
    } else if (c == '"' || c == '\'') {
      bool multiline = count_repeats(text_, i_, c) >= 3;
      if (multiline) consumed_ = 3;
      state_ = c == '"' ? (multiline ? state::multiline_basic : state::basic)
                        : (multiline ? state::multiline_literal : state::literal);
    }
    return std::nullopt;
  }

  std::optional<diagnostic> end_key() {
    bool too_long = in_key_ && dots_ + 1 > max_dotted_key_parts;
    in_key_ = false;
    if (!too_long) return std::nullopt;
    return error(key_line_, key_column_,
                 fmt::format("dotted key has {} parts; graph files allow at most {}", dots_ + 1,
                             max_dotted_key_parts));
  }

  diagnostic error(int line, int column, std::string message) const {
    return diagnostic{{file_, line, column}, std::move(message)};
  }

  std::string_view text_;
  const std::string& file_;
  std::size_t i_ = 0;
  std::size_t consumed_ = 1;
  int line_ = 1;
  int column_ = 1;
  state state_ = state::code;
  bool in_key_ = false;
  int key_line_ = 0;
  int key_column_ = 0;
  std::size_t dots_ = 0;
};

}  // namespace

std::optional<diagnostic> check_graph_text(std::string_view text, const std::string& file) {
  return text_scanner(text, file).scan();
}

}  // namespace loom
