// TOML text to the loader's own tree (graphs/toml_tree.hpp), refusing hostile text cleanly.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "graphs/diagnostics.hpp"
#include "graphs/toml_tree.hpp"

namespace loom {

// The document's root table, or the one error that stopped the parser.
struct toml_document {
  std::optional<toml_node> root;
  std::optional<diagnostic> error;
};

toml_document parse_toml(std::string_view text, const std::string& file);

// One value written on its own, as after `--set stage.key=` ("10", "\"f32\"", "[4, 4]"); none when
// it is not a TOML value. Its nodes are placed at `where`, elements further along that line.
std::optional<toml_node> parse_toml_value(std::string_view text, const toml_position& where);

}  // namespace loom
