// Which experts a shard of a `moe` stage holds, written as a graph file writes it: "0-7",
// "8-11, 14", "3". Each number is an expert index below the layer's `experts`.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace loom {

// The experts `text` names, ascending and without repeats. Throws std::invalid_argument saying
// what is wrong ("expert 16 is out of range: the layer has 16 experts, 0-15") for malformed
// text, reversed ranges, repeats and indices ≥ `experts`.
std::vector<std::int64_t> parse_expert_set(std::string_view text, std::int64_t experts);

// The inverse, in the shortest form: {0,1,2,3,8} → "0-3, 8".
std::string expert_set_text(const std::vector<std::int64_t>& experts);

}  // namespace loom
