#include "devices/dtype.hpp"

#include <array>
#include <utility>

namespace loom {
namespace {

struct dtype_info {
  dtype type;
  std::string_view name;
  std::size_t size;
};

constexpr std::array<dtype_info, 6> infos{{{dtype::u8, "u8", 1},
                                           {dtype::i32, "i32", 4},
                                           {dtype::i64, "i64", 8},
                                           {dtype::f16, "f16", 2},
                                           {dtype::bf16, "bf16", 2},
                                           {dtype::f32, "f32", 4}}};

const dtype_info& info(dtype type) { return infos[static_cast<std::size_t>(type)]; }

}  // namespace

std::size_t size_of(dtype type) { return info(type).size; }

std::string_view name_of(dtype type) { return info(type).name; }

std::optional<dtype> parse_dtype(std::string_view name) {
  for (const auto& i : infos)
    if (i.name == name) return i.type;
  return std::nullopt;
}

std::string_view dtype_names() { return "u8, i32, i64, f16, bf16, f32"; }

}  // namespace loom
