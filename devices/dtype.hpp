// Element types a tensor can hold. Names are the spellings used in graph files.
#pragma once

#include <cstddef>
#include <optional>
#include <string_view>

namespace loom {

enum class dtype { u8, i32, i64, f16, bf16, f32 };

std::size_t size_of(dtype type);
std::string_view name_of(dtype type);
std::optional<dtype> parse_dtype(std::string_view name);

// "u8, i32, i64, f16, bf16, f32", for error messages that list the choices.
std::string_view dtype_names();

}  // namespace loom
