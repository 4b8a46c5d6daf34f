// GPT-2's pre-tokenizer by hand: each branch below is one alternative of the regular expression
// in gpt2_pretokenizer.hpp, tried in the same order, with the same greedy runs.
#include "stages/model/gpt2_pretokenizer.hpp"

#include <array>

#include "stages/model/unicode_classes.hpp"

namespace loom {
namespace {

struct scanned {
  char_class kind;
  std::size_t length;
};

scanned scan(std::string_view text, std::size_t at) {
  auto c = next_utf8(text, at);
  return {c.valid ? classify(c.code_point) : char_class::other, c.length};
}

// The end of the contraction ('s, 't, 're, 've, 'm, 'll, 'd) at `at`, or 0 when none starts there.
std::size_t contraction_end(std::string_view text, std::size_t at) {
  static constexpr std::array<std::string_view, 7> suffixes = {"s", "t",  "re", "ve",
                                                               "m", "ll", "d"};
  if (text[at] != '\'') return 0;
  for (auto suffix : suffixes)
    if (text.substr(at + 1, suffix.size()) == suffix) return at + 1 + suffix.size();
  return 0;
}

std::size_t piece_end(std::string_view text, std::size_t at) {
  if (auto end = contraction_end(text, at)) return end;
  // ` ?\p{L}+`, ` ?\p{N}+` and ` ?[^\s\p{L}\p{N}]+`: a run of one class, which one space before
  // it joins.
  std::size_t start = at;
  auto first = scan(text, at);
  if (text[at] == ' ' && at + 1 < text.size()) {
    auto second = scan(text, at + 1);
    if (second.kind != char_class::space) {
      start = at + 1;
      first = second;
    }
  }
  if (first.kind != char_class::space) {
    std::size_t end = start + first.length;
    for (scanned c; end < text.size() && (c = scan(text, end)).kind == first.kind;) end += c.length;
    return end;
  }
  // `\s+(?!\S)` backs off one character when the run is followed by something, leaving that
  // last space to start the next piece (" word"); a run of one then falls to `\s+`.
  std::size_t end = at + first.length, last = at;
  for (scanned c; end < text.size() && (c = scan(text, end)).kind == char_class::space;) {
    last = end;
    end += c.length;
  }
  return end < text.size() && last > at ? last : end;
}

}  // namespace

void gpt2_pretokenize(std::string_view text, std::vector<std::string_view>& pieces) {
  for (std::size_t at = 0; at < text.size();) {
    auto end = piece_end(text, at);
    pieces.push_back(text.substr(at, end - at));
    at = end;
  }
}

}  // namespace loom
