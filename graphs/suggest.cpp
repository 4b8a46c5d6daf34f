// "Did you mean" suggestions and name lists for the loader's error messages.
#include "graphs/suggest.hpp"

#include <algorithm>

#include <fmt/format.h>

namespace loom {
namespace {

// Past this many candidates no guess is made: the search is quadratic in the worst case, and a
// hostile file could otherwise make every one of thousands of errors search thousands of names.
constexpr std::size_t max_candidates = 256;
// Longer lists would drown the message.
constexpr std::size_t max_listed = 16;

// Optimal string alignment distance: edits, with a swap of neighbours counting as one.
std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::vector<std::size_t>> d(a.size() + 1, std::vector<std::size_t>(b.size() + 1));
  for (std::size_t i = 0; i <= a.size(); ++i) d[i][0] = i;
  for (std::size_t j = 0; j <= b.size(); ++j) d[0][j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i)
    for (std::size_t j = 1; j <= b.size(); ++j) {
      std::size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
    }
  return d[a.size()][b.size()];
}

}  // namespace

std::optional<std::string> closest_match(std::string_view word,
                                         const std::vector<std::string>& candidates) {
  if (candidates.size() > max_candidates) return std::nullopt;
  std::optional<std::string> best;
  std::size_t best_distance = 0;
  for (const auto& candidate : candidates) {
    // A third of the name may be wrong, and always one character: "in" for "inn".
    std::size_t allowed = std::max<std::size_t>(1, candidate.size() / 3);
    std::size_t gap = candidate.size() > word.size() ? candidate.size() - word.size()
                                                     : word.size() - candidate.size();
    if (gap > allowed || candidate == word) continue;
    std::size_t distance = edit_distance(word, candidate);
    if (distance <= allowed && (!best || distance < best_distance)) {
      best = candidate;
      best_distance = distance;
    }
  }
  return best;
}

std::string name_list(const std::vector<std::string>& names) {
  if (names.empty()) return "none";
  std::size_t shown = std::min(names.size(), max_listed);
  std::string out = fmt::format("{}", fmt::join(names.begin(), names.begin() + shown, ", "));
  if (shown < names.size()) out += fmt::format(" and {} more", names.size() - shown);
  return out;
}

std::string unknown_name_message(std::string_view head, std::string_view word,
                                 const std::vector<std::string>& candidates,
                                 std::string_view label) {
  if (auto guess = closest_match(word, candidates))
    return fmt::format("{}; did you mean '{}'?", head, *guess);
  return fmt::format("{} ({}: {})", head, label, name_list(candidates));
}

std::string listed_name_message(std::string_view head, std::string_view word,
                                const std::vector<std::string>& candidates,
                                std::string_view label) {
  auto message = fmt::format("{} ({}: {})", head, label, name_list(candidates));
  if (auto guess = closest_match(word, candidates))
    message += fmt::format("; did you mean '{}'?", *guess);
  return message;
}

}  // namespace loom
