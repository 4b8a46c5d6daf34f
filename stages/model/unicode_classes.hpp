// The character classes the GPT-2 pre-tokenizer splits text by. Exact for every code point of
// the Unicode version in unicode_classes.cpp (generated from Python's unicodedata by
// tools/reference/make_unicode_classes.py, so the C++ tokenizer and its Python reference agree).
#pragma once

#include <cstdint>

namespace loom {

enum class char_class : std::uint8_t {
  letter,  // general category L* (\p{L})
  number,  // general category N* (\p{N})
  space,   // the White_Space property (\s)
  other,
};

char_class classify(char32_t code_point);

}  // namespace loom
