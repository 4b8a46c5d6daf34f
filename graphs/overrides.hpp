// `--set stage.param=value` overrides, written into the parsed file before it is validated, so
// an overridden value is checked exactly like one in the file.
#pragma once

#include <string>
#include <vector>

#include "graphs/diagnostics.hpp"
#include "graphs/toml_tree.hpp"

namespace loom {

// The file name that overrides and their errors carry. Their line is the override's place among
// the --set options (1 = the first) and their column a character in its text, so
// "--set:2:11: error: ..." is about the value of the second --set.
inline constexpr std::string_view override_file = "--set";

// Sets each "stage.key=value" in `root`'s [stages] table, replacing or adding the key; the key
// may be dotted ("sink.inputs.in.capacity=8"). The value is read as a TOML value when it is one
// and taken as a string otherwise (`dtype=f32`). Malformed overrides are reported and skipped.
void apply_overrides(toml_node& root, const std::vector<std::string>& overrides,
                     std::vector<diagnostic>& errors);

}  // namespace loom
