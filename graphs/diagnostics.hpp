// Errors found in a graph file, reported all at once as `FILE:LINE:COL: error: MESSAGE`.
#pragma once

#include <string>
#include <vector>

#include "graphs/graph.hpp"

namespace loom {

struct diagnostic {
  source_position where;
  std::string message;
};

std::string format(const diagnostic& d);  // "FILE:LINE:COL: error: MESSAGE"

// Sorted by file, line and column (then message, so that the order is always the same),
// duplicates removed.
void sort_diagnostics(std::vector<diagnostic>& diagnostics);

}  // namespace loom
