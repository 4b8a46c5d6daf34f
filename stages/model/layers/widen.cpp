// Widening f32/bf16/f16 tensors to f32 vectors at load (see widen.hpp).
#include "stages/model/layers/widen.hpp"

#include <cstring>
#include <stdexcept>

#include <fmt/format.h>

#include "devices/float_convert.hpp"

namespace loom {

std::vector<float> widen_to_f32(const tensor& t) {
  if (!t.is_contiguous())
    throw std::invalid_argument(
        fmt::format("widen_to_f32: the tensor {} is not dense", to_string(t.shape())));
  const auto n = static_cast<std::size_t>(t.numel());
  std::vector<float> out(n);
  const auto* halves = t.data<const std::uint16_t>();
  switch (t.type()) {
    case dtype::f32: std::memcpy(out.data(), t.raw(), n * sizeof(float)); break;
    case dtype::bf16:
      for (std::size_t i = 0; i < n; ++i) out[i] = f32_from_bf16(halves[i]);
      break;
    case dtype::f16:
      for (std::size_t i = 0; i < n; ++i) out[i] = f32_from_f16(halves[i]);
      break;
    default:
      throw std::invalid_argument(fmt::format(
          "widen_to_f32: a {} tensor is not a float tensor (f32, bf16 or f16)", name_of(t.type())));
  }
  return out;
}

}  // namespace loom
