// What the GPT-2 pre-tokenizer needs to know about Unicode: the class of a code point and how to
// read one from UTF-8 (and write one, for the tokenizer's byte alphabet and JSON escapes). The classes are exact for every code point of the Unicode version in
// unicode_classes.cpp, which tools/reference/make_unicode_classes.py generates from Python's
// unicodedata, so the C++ tokenizer and its Python reference agree by construction.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace loom {

enum class char_class : std::uint8_t {
  letter,  // general category L* (\p{L})
  number,  // general category N* (\p{N})
  space,   // the White_Space property (\s)
  other,
};

char_class classify(char32_t code_point);

struct utf8_char {
  char32_t code_point;  // meaningful when `valid`
  std::uint8_t length;  // bytes taken: the sequence, or 1 for a byte that starts none
  bool valid;
};

// The character starting at `text[at]`, strictly: overlong forms, surrogates and code points
// beyond U+10FFFF are invalid, and an invalid sequence gives up one byte at a time (as Python's
// decoder with errors="surrogateescape" does).
inline utf8_char next_utf8(std::string_view text, std::size_t at) {
  const auto byte = [&](std::size_t i) {
    return at + i < text.size() ? static_cast<unsigned char>(text[at + i]) : 0u;
  };
  const auto continuation = [&](std::size_t i, unsigned low = 0x80, unsigned high = 0xBF) {
    return byte(i) >= low && byte(i) <= high;
  };
  const unsigned lead = byte(0);
  if (lead < 0x80) return {lead, 1, true};
  if (lead >= 0xC2 && lead <= 0xDF && continuation(1))
    return {((lead & 0x1Fu) << 6) | (byte(1) & 0x3Fu), 2, true};
  if (lead >= 0xE0 && lead <= 0xEF) {
    const unsigned low = lead == 0xE0 ? 0xA0 : 0x80, high = lead == 0xED ? 0x9F : 0xBF;
    if (continuation(1, low, high) && continuation(2))
      return {((lead & 0x0Fu) << 12) | ((byte(1) & 0x3Fu) << 6) | (byte(2) & 0x3Fu), 3, true};
  }
  if (lead >= 0xF0 && lead <= 0xF4) {
    const unsigned low = lead == 0xF0 ? 0x90 : 0x80, high = lead == 0xF4 ? 0x8F : 0xBF;
    if (continuation(1, low, high) && continuation(2) && continuation(3))
      return {((lead & 0x07u) << 18) | ((byte(1) & 0x3Fu) << 12) | ((byte(2) & 0x3Fu) << 6) |
                  (byte(3) & 0x3Fu),
              4, true};
  }
  return {lead, 1, false};
}

// Appends the UTF-8 encoding of a valid code point.
inline void append_utf8(std::string& out, char32_t c) {
  if (c < 0x80) {
    out += static_cast<char>(c);
  } else if (c < 0x800) {
    out += static_cast<char>(0xC0 | (c >> 6));
    out += static_cast<char>(0x80 | (c & 0x3F));
  } else if (c < 0x10000) {
    out += static_cast<char>(0xE0 | (c >> 12));
    out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (c & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (c >> 18));
    out += static_cast<char>(0x80 | ((c >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (c & 0x3F));
  }
}

}  // namespace loom
