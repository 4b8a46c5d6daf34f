// Conversions between f32 and the 16-bit float formats (bf16, f16) as raw bit patterns, rounding
// to nearest even, NaN kept NaN. Host code that prepares or checks reduced-precision tensors uses
// these; device math converts on its own.
#pragma once

#include <cstdint>
#include <cstring>

namespace loom {

inline std::uint16_t bf16_from_f32(float value) {
  std::uint32_t bits;
  std::memcpy(&bits, &value, sizeof bits);
  if ((bits & 0x7fffffffu) > 0x7f800000u) return static_cast<std::uint16_t>((bits >> 16) | 0x40);
  bits += 0x7fffu + ((bits >> 16) & 1u);
  return static_cast<std::uint16_t>(bits >> 16);
}

inline float f32_from_bf16(std::uint16_t value) {
  std::uint32_t bits = static_cast<std::uint32_t>(value) << 16;
  float result;
  std::memcpy(&result, &bits, sizeof result);
  return result;
}

// g++ on x86-64 has IEEE half precision as _Float16, with correctly rounded conversions.
inline std::uint16_t f16_from_f32(float value) {
  _Float16 half = static_cast<_Float16>(value);
  std::uint16_t bits;
  std::memcpy(&bits, &half, sizeof bits);
  return bits;
}

inline float f32_from_f16(std::uint16_t value) {
  _Float16 h;
  std::memcpy(&h, &value, sizeof h);
  return static_cast<float>(h);
}

}  // namespace loom
