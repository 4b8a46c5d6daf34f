// Where a stage finds a file its graph names as input: weights, vocabularies, images, videos,
// prompt files. Relative paths resolve against the graph file's directory, like plugin paths, so
// a graph and its inputs move together and `loom run` works from any directory; a graph given as
// text (tests) resolves against the working directory. Output paths (sinks) stay relative to the
// working directory, where the user runs loom.
#pragma once

#include <filesystem>
#include <string>

#include "stages/run_info.hpp"

namespace loom {

// `path` resolved as above. Specs that are not file names come back unchanged: "random:SEED"
// weights, URLs ("rtsp://...") and FFmpeg's "pipe:N".
inline std::string input_path(const std::string& path, const run_info& run) {
  std::filesystem::path p(path);
  const bool not_a_file = path.rfind("random:", 0) == 0 || path.rfind("pipe:", 0) == 0 ||
                          path.find("://") != std::string::npos;
  if (not_a_file || path.empty() || p.is_absolute() || run.graph_file.empty()) return path;
  return (std::filesystem::path(run.graph_file).parent_path() / p).string();
}

}  // namespace loom
