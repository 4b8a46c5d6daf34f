// A graph in Graphviz DOT: one box per stage (name, type, device, replicas) and one arrow per
// edge (ports, and capacity and policy where they differ from the defaults).
//
//   digraph "chain" {
//     "src" [label="src\nsynthetic_source\ncpu"];
//     "src" -> "hop" [label="out → in"];
//   }
#include "graphs/dot.hpp"

#include <fmt/format.h>

namespace loom {
namespace {

// A DOT quoted string; "\n" inside a label is DOT's own line break, so a backslash the user
// wrote must be doubled.
std::string quoted(std::string_view text) {
  std::string out = "\"";
  for (char c : text) {
    if (c == '"' || c == '\\') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out + "\"";
}

std::string label(const std::vector<std::string>& lines) {
  std::string out = "\"";
  for (std::size_t i = 0; i < lines.size(); ++i) {
    auto line = quoted(lines[i]);
    out += (i ? "\\n" : "") + line.substr(1, line.size() - 2);
  }
  return out + "\"";
}

}  // namespace

std::string to_dot(const graph_def& graph) {
  const edge_def defaults;
  std::string out = fmt::format("digraph {} {{\n  rankdir=LR;\n  node [shape=box];\n",
                                quoted(graph.name));
  for (const auto& s : graph.stages) {
    auto placement = s.replicas > 1 ? fmt::format("{} ×{}", s.device, s.replicas) : s.device;
    out += fmt::format("  {} [label={}];\n", quoted(s.name), label({s.name, s.type, placement}));
  }
  for (const auto& s : graph.stages)
    for (const auto& e : s.inputs) {
      std::vector<std::string> lines{fmt::format("{} → {}", e.from_port, e.to_port)};
      std::vector<std::string> options;
      if (e.capacity != defaults.capacity) options.push_back(fmt::format("capacity {}", e.capacity));
      if (e.policy != defaults.policy) options.emplace_back(name_of(e.policy));
      if (!options.empty()) lines.push_back(fmt::format("{}", fmt::join(options, ", ")));
      out += fmt::format("  {} -> {} [label={}];\n", quoted(e.from_stage), quoted(e.to_stage),
                         label(lines));
    }
  return out + "}\n";
}

}  // namespace loom
