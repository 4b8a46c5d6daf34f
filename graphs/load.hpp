// Reading a graph file: parse (toml++), apply `--set` overrides, load the plugins it names,
// validate everything against the registry. Nothing runs and no device is touched.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "graphs/diagnostics.hpp"
#include "graphs/graph.hpp"
#include "stages/registry.hpp"

namespace loom {

struct load_result {
  std::optional<graph_def> graph;      // set when there are no errors
  std::vector<diagnostic> errors;      // every error found, sorted
};

// `overrides` are "stage.param=value" strings from --set; the value is read as a TOML value
// (`count=10`, `dtype="f32"`, `shape=[4,4]`), and a bare word is taken as a string.
// Errors in an override (or in the value it sets) are placed at file "--set", line N for the
// Nth override, column within its text: "--set:2:11: error: ...".
// Plugins named in [plugins] are loaded into `registry` before stage types are checked.
load_result load_graph(const std::string& path, const std::vector<std::string>& overrides,
                       stage_registry& registry);

// The same, for text already in memory (`path` is used in messages and to resolve plugins).
// The graph's sha256 stays empty: only load_graph reads a file whose bytes it can vouch for.
// `local_node`: the node whose stages this process runs, for the checks that depend on the
// machine (a device's `cores`; graphs/validate.hpp); "" is the process that runs `loom run`.
load_result load_graph_text(const std::string& text, const std::string& path,
                            const std::vector<std::string>& overrides, stage_registry& registry,
                            const std::string& local_node = {});

// Graph files larger than this are refused before parsing.
constexpr std::size_t max_graph_file_bytes = 4 * 1024 * 1024;

}  // namespace loom
