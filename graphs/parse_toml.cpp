// The one translation unit that includes toml++. The system's toml++ is a compiled library built
// with the default nesting limit of 256; loom wants 128 (design/RELIABILITY.md: deep nesting
// overflows the stack), so it compiles the parser here, header-only, with that limit. Exceptions are off so that the parser and
// parse_result live in toml++'s `noex` ABI namespace and cannot be confused with the library's
// (`ex`) copies, and every toml++ symbol compiled here is hidden, so that neither libloom nor the
// toml++ library can bind to the other's definitions. toml++ types never appear in a header, so
// no other file sees other settings.
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#undef TOML_HEADER_ONLY
#undef TOML_SHARED_LIB
#define TOML_HEADER_ONLY 1
#define TOML_SHARED_LIB 0
#define TOML_EXCEPTIONS 0
#define TOML_MAX_NESTED_VALUES 128
#pragma GCC visibility push(hidden)
#include <toml++/toml.h>
#pragma GCC visibility pop

#include "graphs/parse_toml.hpp"
#include "graphs/text_guard.hpp"

namespace loom {
namespace {

// A value is parsed as the document "v = VALUE"; its first character is in this column.
constexpr std::string_view value_prefix = "v = ";
constexpr int value_column = static_cast<int>(value_prefix.size()) + 1;

class tree_builder {
 public:
  // Positions are those toml++ reports, in `file`.
  explicit tree_builder(std::shared_ptr<const std::string> file) : file_(std::move(file)) {}
  // Positions are moved to a lone value's place on the command line.
  explicit tree_builder(toml_position value_origin)
      : file_(value_origin.file), value_origin_(std::move(value_origin)) {}

  // Recursion is bounded: TOML_MAX_NESTED_VALUES limits arrays and inline tables, and
  // check_graph_text limits the parts of each dotted key. Nodes are built in place: a 4 MiB file
  // can hold two million values.
  void build(const toml::node& node, toml_node& out) const {
    out.where = place(node.source().begin);
    switch (node.type()) {
      case toml::node_type::table: {
        const auto& table = *node.as_table();
        out.kind = toml_kind::table;
        out.entries.reserve(table.size());
        for (const auto& [key, value] : table) {
          out.entries.push_back({std::string(key.str()), place(key.source().begin), {}});
          build(value, out.entries.back().value);
        }
        break;
      }
      case toml::node_type::array: {
        const auto& array = *node.as_array();
        out.kind = toml_kind::array;
        out.items.resize(array.size());
        for (std::size_t i = 0; i < array.size(); ++i) build(array[i], out.items[i]);
        break;
      }
      case toml::node_type::string:
        out.kind = toml_kind::string;
        out.scalar = node.as_string()->get();
        break;
      case toml::node_type::integer:
        out.kind = toml_kind::integer;
        out.scalar = node.as_integer()->get();
        break;
      case toml::node_type::floating_point:
        out.kind = toml_kind::floating;
        out.scalar = node.as_floating_point()->get();
        break;
      case toml::node_type::boolean:
        out.kind = toml_kind::boolean;
        out.scalar = node.as_boolean()->get();
        break;
      default:
        out.kind = toml_kind::date_time;
        break;
    }
  }

  toml_position place(const toml::source_position& p) const {
    if (!value_origin_) return {file_, static_cast<int>(p.line), static_cast<int>(p.column)};
    if (p.line != 1) return *value_origin_;
    return {file_, value_origin_->line,
            value_origin_->column + static_cast<int>(p.column) - value_column};
  }

 private:
  std::shared_ptr<const std::string> file_;
  std::optional<toml_position> value_origin_;
};

}  // namespace

toml_document parse_toml(std::string_view text, const std::string& file) {
  if (auto refused = check_graph_text(text, file)) return {std::nullopt, std::move(refused)};
  auto parsed = toml::parse(text, std::string_view(file));
  if (!parsed) {
    const auto& e = parsed.error();
    return {std::nullopt,
            diagnostic{{file, static_cast<int>(e.source().begin.line),
                        static_cast<int>(e.source().begin.column)},
                       std::string(e.description())}};
  }
  toml_document document;
  auto& root = document.root.emplace();
  tree_builder(std::make_shared<const std::string>(file)).build(parsed.table(), root);
  root.where.line = 1;
  root.where.column = 1;
  return document;
}

std::optional<toml_node> parse_toml_value(std::string_view text, const toml_position& where) {
  std::string document = std::string(value_prefix) + std::string(text);
  if (check_graph_text(document, *where.file)) return std::nullopt;
  auto parsed = toml::parse(std::string_view(document), std::string_view(*where.file));
  if (!parsed || parsed.table().size() != 1) return std::nullopt;
  const auto* value = parsed.table().get("v");
  if (value == nullptr) return std::nullopt;
  toml_node out;
  tree_builder(where).build(*value, out);
  return out;
}

}  // namespace loom
