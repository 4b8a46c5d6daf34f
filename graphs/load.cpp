// Reading a graph file: refuse oversized files unread, parse (parse_toml), apply --set overrides,
// validate. The steps after parsing report every error they find; a parse error stops there.
#include "graphs/load.hpp"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>

#include <fmt/format.h>

#include "graphs/overrides.hpp"
#include "graphs/parse_toml.hpp"
#include "graphs/sha256.hpp"
#include "graphs/validate.hpp"

namespace loom {
namespace {

load_result failed(const std::string& path, std::string message) {
  return {std::nullopt, {diagnostic{{path, 1, 1}, std::move(message)}}};
}

std::string too_large(std::uintmax_t bytes) {
  return fmt::format("file is {:.1f} MiB; graph files are limited to {} MiB",
                     static_cast<double>(bytes) / (1024.0 * 1024.0),
                     max_graph_file_bytes / (1024 * 1024));
}

struct file_closer {
  void operator()(std::FILE* f) const { std::fclose(f); }
};

}  // namespace

load_result load_graph(const std::string& path, const std::vector<std::string>& overrides,
                       stage_registry& registry) {
  std::error_code ec;
  auto size = std::filesystem::file_size(path, ec);
  if (!ec && size > max_graph_file_bytes) return failed(path, too_large(size));

  std::unique_ptr<std::FILE, file_closer> file(std::fopen(path.c_str(), "rb"));
  if (!file) return failed(path, fmt::format("cannot read file: {}", std::strerror(errno)));
  // Read at most one byte past the limit: the size seen above may be stale, or not a size at
  // all (a pipe).
  std::string text(max_graph_file_bytes + 1, '\0');
  std::size_t length = std::fread(text.data(), 1, text.size(), file.get());
  if (std::ferror(file.get()))
    return failed(path, fmt::format("cannot read file: {}", std::strerror(errno)));
  if (length > max_graph_file_bytes) return failed(path, too_large(length));
  text.resize(length);
  auto result = load_graph_text(text, path, overrides, registry);
  if (result.graph) result.graph->sha256 = sha256_hex(text);
  return result;
}

load_result load_graph_text(const std::string& text, const std::string& path,
                            const std::vector<std::string>& overrides, stage_registry& registry,
                            const std::string& local_node) {
  if (text.size() > max_graph_file_bytes) return failed(path, too_large(text.size()));
  auto document = parse_toml(text, path);
  if (!document.root) return {std::nullopt, {std::move(*document.error)}};
  load_result result;
  apply_overrides(*document.root, overrides, result.errors);
  auto graph = validate_graph(*document.root, path, registry, result.errors, local_node);
  sort_diagnostics(result.errors);
  if (result.errors.empty()) result.graph = std::move(graph);
  return result;
}

}  // namespace loom
