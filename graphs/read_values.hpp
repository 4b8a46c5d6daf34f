// Typed reads from the loader's TOML tree. Each one that fails adds a diagnostic at the value
// saying what was expected ("'replicas' of stage 'hop' must be an integer, not a string") and
// returns none, so that checking goes on and every error is reported.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "graphs/diagnostics.hpp"
#include "graphs/toml_tree.hpp"

namespace loom {

void add_error(std::vector<diagnostic>& errors, const toml_position& where, std::string message);

// `what` names the value in messages, e.g. "'kind' of device 'fast'".
bool expect_kind(const toml_node& node, toml_kind kind, std::string_view what,
                 std::vector<diagnostic>& errors);

std::optional<std::string> read_string(const toml_node& node, std::string_view what,
                                       std::vector<diagnostic>& errors);

std::optional<std::int64_t> read_integer(const toml_node& node, std::string_view what,
                                         std::int64_t min, std::int64_t max,
                                         std::vector<diagnostic>& errors);

// An integer or a floating-point number, finite.
std::optional<double> read_number(const toml_node& node, std::string_view what,
                                  std::vector<diagnostic>& errors);
// The same, and greater than zero.
std::optional<double> read_positive_number(const toml_node& node, std::string_view what,
                                           std::vector<diagnostic>& errors);

// A string that must be one of `choices`.
std::optional<std::string> read_choice(const toml_node& node, std::string_view what,
                                       const std::vector<std::string>& choices,
                                       std::vector<diagnostic>& errors);

// Reports every key of `table` that is not in `known`, at the key: "unknown key 'k' in CONTEXT".
void check_keys(const toml_node& table, const std::vector<std::string>& known,
                std::string_view context, std::vector<diagnostic>& errors);

}  // namespace loom
