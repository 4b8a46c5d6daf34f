// Formatting and ordering the loader's error messages.
#include "graphs/diagnostics.hpp"

#include <algorithm>
#include <tuple>

#include <fmt/format.h>

namespace loom {

std::string format(const diagnostic& d) {
  return fmt::format("{}:{}:{}: error: {}", d.where.file, d.where.line, d.where.column,
                     d.message);
}

void sort_diagnostics(std::vector<diagnostic>& diagnostics) {
  // The message breaks ties, so that errors at one place come out in the same order every time.
  auto key = [](const diagnostic& d) {
    return std::tie(d.where.file, d.where.line, d.where.column, d.message);
  };
  std::sort(diagnostics.begin(), diagnostics.end(),
            [&](const diagnostic& a, const diagnostic& b) { return key(a) < key(b); });
  diagnostics.erase(std::unique(diagnostics.begin(), diagnostics.end(),
                                [&](const diagnostic& a, const diagnostic& b) {
                                  return key(a) == key(b);
                                }),
                    diagnostics.end());
}

}  // namespace loom
