// `loom graph`: a loaded graph written as Graphviz DOT.
#include <boost/test/unit_test.hpp>

#include <string>

#include "graphs/dot.hpp"
#include "graphs/load.hpp"

using namespace loom;

namespace {

graph_def load(const std::string& text) {
  auto registry = stage_registry::with_builtins();
  auto result = load_graph_text(text, "dot.toml", {}, registry);
  std::string errors;
  for (const auto& d : result.errors) errors += format(d) + "\n";
  BOOST_REQUIRE_MESSAGE(result.graph, errors);
  return std::move(*result.graph);
}

}  // namespace

BOOST_AUTO_TEST_CASE(stages_are_boxes_and_inputs_are_labelled_arrows) {
  auto graph = load(R"(
[graph]
name = "chain"
version = 1

[devices.fast]
kind = "cpu"

[stages.sink]
type = "null_sink"
inputs.in = { from = "hop.out", capacity = 8, policy = "drop_oldest" }

[stages.hop]
type = "passthrough"
device = "fast"
replicas = 2
inputs.in = "src.out"

[stages.src]
type = "synthetic_source"

[stages.tap]
type = "null_sink"
inputs.in = { from = "src.out", policy = "drop_newest" }
)");
  // Stages in graph order (sources first); options only where they differ from the defaults.
  BOOST_TEST(to_dot(graph) ==
             "digraph \"chain\" {\n"
             "  rankdir=LR;\n"
             "  node [shape=box];\n"
             "  \"src\" [label=\"src\\nsynthetic_source\\ncpu\"];\n"
             "  \"hop\" [label=\"hop\\npassthrough\\nfast ×2\"];\n"
             "  \"sink\" [label=\"sink\\nnull_sink\\ncpu\"];\n"
             "  \"tap\" [label=\"tap\\nnull_sink\\ncpu\"];\n"
             "  \"src\" -> \"hop\" [label=\"out → in\"];\n"
             "  \"hop\" -> \"sink\" [label=\"out → in\\ncapacity 8, drop_oldest\"];\n"
             "  \"src\" -> \"tap\" [label=\"out → in\\ndrop_newest\"];\n"
             "}\n");
}

BOOST_AUTO_TEST_CASE(quotes_and_backslashes_in_names_are_escaped) {
  auto graph = load(R"(
[graph]
name = 'say "hi" \o/'
version = 1

[stages.'a"b']
type = "synthetic_source"

[stages.'c\d']
type = "null_sink"
inputs.in = 'a"b.out'
)");
  BOOST_TEST(to_dot(graph) ==
             "digraph \"say \\\"hi\\\" \\\\o/\" {\n"
             "  rankdir=LR;\n"
             "  node [shape=box];\n"
             "  \"a\\\"b\" [label=\"a\\\"b\\nsynthetic_source\\ncpu\"];\n"
             "  \"c\\\\d\" [label=\"c\\\\d\\nnull_sink\\ncpu\"];\n"
             "  \"a\\\"b\" -> \"c\\\\d\" [label=\"out → in\"];\n"
             "}\n");
}
