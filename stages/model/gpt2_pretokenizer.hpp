// GPT-2's pre-tokenizer: splits text into the pieces BPE then works on one at a time, by the
// regular expression
//
//   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
//
// written out by hand over UTF-8 rather than run through a regex engine (none in the standard
// library handles \p{..}; the hand-written scan is also several times faster). Bytes that are
// not valid UTF-8 count as "other" characters one by one, so any byte string splits, and the
// pieces always join back into the input.
#pragma once

#include <string_view>
#include <vector>

namespace loom {

// Appends the pieces of `text`, as views into it, to `pieces`.
void gpt2_pretokenize(std::string_view text, std::vector<std::string_view>& pieces);

}  // namespace loom
