// Where a model stage finds a file its graph names (weights, vocabularies, configs).
#pragma once

#include <filesystem>
#include <string>

#include "stages/run_info.hpp"

namespace loom {

// Like plugin paths, model files resolve against the graph file's directory, so a graph and its
// model can move together; a graph given as text (tests) resolves against the working directory.
// "random:SEED" weight specs are not paths and come back unchanged.
inline std::string model_path(const std::string& path, const run_info& run) {
  std::filesystem::path p(path);
  if (path.rfind("random:", 0) == 0 || p.is_absolute() || run.graph_file.empty()) return path;
  return (std::filesystem::path(run.graph_file).parent_path() / p).string();
}

}  // namespace loom
