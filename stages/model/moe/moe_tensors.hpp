// What flows between the parts of a `moe` stage (moe_stages.hpp), and the checks every part makes
// on the layer's input.
#pragma once

#include <cstdint>
#include <string_view>

#include "stages/packet.hpp"
#include "stages/stage.hpp"

namespace loom::moe_tensor {
// router → shard: the layer's input (the same tensor, not a copy), and views of the routing table
inline constexpr std::string_view x = "x";                      // f32 [tokens, d_model]
inline constexpr std::string_view tokens = "tokens";            // i32 [rows]: token of each row
inline constexpr std::string_view gates = "gates";              // f32 [rows]: its weight
inline constexpr std::string_view offsets = "offsets";          // i64 [experts held + 1]
inline constexpr std::string_view shared_rows = "shared_rows";  // i64 [2]: [begin, end)
// shard → combiner (with `tokens` and `shared_rows` passed on)
inline constexpr std::string_view routed = "routed";  // f32 [rows, d_model]: gate · expert(x)
inline constexpr std::string_view shared = "shared";  // f32 [end − begin, d_model]; none when no
                                                      // shared experts
}  // namespace loom::moe_tensor

namespace loom {

// The layer's input: "data", or the packet's only tensor, f32 [tokens, d_model] with dense rows.
const tensor& moe_input(const packet& p, std::int64_t d_model, const std::string& stage);

// Tokens per call as the planner knows them (the input's first dimension), else 1.
double moe_known_tokens(const port_type& input);

}  // namespace loom
