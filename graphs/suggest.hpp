// Helping words for error messages: the closest known name to a misspelt one, and lists of the
// names that would have been accepted.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace loom {

// The candidate a typo most likely meant (a few edits away, transpositions counting as one),
// or none when nothing is close.
std::optional<std::string> closest_match(std::string_view word,
                                         const std::vector<std::string>& candidates);

// "a, b, c"; long lists end "... and N more"; empty: "none".
std::string name_list(const std::vector<std::string>& names);

// "HEAD; did you mean 'x'?" when a candidate is close, else "HEAD (LABEL: a, b, c)".
std::string unknown_name_message(std::string_view head, std::string_view word,
                                 const std::vector<std::string>& candidates,
                                 std::string_view label);

// "HEAD (LABEL: a, b)", then "; did you mean 'x'?" when a candidate is close: for short lists
// worth showing whole, like a stage's ports.
std::string listed_name_message(std::string_view head, std::string_view word,
                                const std::vector<std::string>& candidates,
                                std::string_view label);

}  // namespace loom
