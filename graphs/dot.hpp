// A graph in Graphviz DOT, for `loom graph`.
#pragma once

#include <string>

#include "graphs/graph.hpp"

namespace loom {

std::string to_dot(const graph_def& graph);

}  // namespace loom
