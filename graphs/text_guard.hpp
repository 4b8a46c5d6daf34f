// Checks a graph file's raw text for what must never reach the TOML parser: bytes that are not
// UTF-8 text, and dotted keys so long that toml++ would build (and later destroy, recursively)
// one nested table per part, overflowing the stack.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "graphs/diagnostics.hpp"

namespace loom {

// Graph files need four or five parts (stages.sink.inputs.in.capacity); this leaves room for
// anything sensible while bounding how deep dotted keys can nest tables.
constexpr int max_dotted_key_parts = 32;

// The first problem found, placed at its line and column (columns count characters, as
// toml++'s do), or none when the text may be parsed.
std::optional<diagnostic> check_graph_text(std::string_view text, const std::string& file);

}  // namespace loom
