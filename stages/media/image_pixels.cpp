#include "stages/media/image_pixels.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include <fmt/format.h>

namespace loom {

pixel_layout pixel_layout_of(const tensor& t, std::string_view name) {
  auto describe = [&] {
    return fmt::format("tensor '{}' is {} {}", name, name_of(t.type()), to_string(t.shape()));
  };
  if (t.device() != "cpu")
    throw std::invalid_argument(fmt::format("{} on device '{}'; images are written from the CPU",
                                            describe(), t.device()));
  if (t.type() != dtype::u8 && t.type() != dtype::f32)
    throw std::invalid_argument(fmt::format("{}; images must be u8 or f32 in [0, 1]", describe()));
  const auto& s = t.shape();
  if (s.size() != 3 && s.size() != 4)
    throw std::invalid_argument(
        fmt::format("{}; expected an image [H, W, C] or a clip [N, H, W, C]", describe()));
  pixel_layout l;
  std::size_t first = s.size() - 3;
  if (s.size() == 4) l.frames = s[0];
  l.height = s[first];
  l.width = s[first + 1];
  l.channels = s[first + 2];
  if (l.channels != 1 && l.channels != 3 && l.channels != 4)
    throw std::invalid_argument(
        fmt::format("{}; the last dimension must be 1 (grey), 3 (RGB) or 4 (RGBA) channels", describe()));
  if (l.frames < 1 || l.height < 1 || l.width < 1)
    throw std::invalid_argument(fmt::format("{}; it holds no pixels", describe()));
  return l;
}

frame_pixels pixels_of_frame(const tensor& t, const pixel_layout& l, std::int64_t frame) {
  const auto& st = t.strides();
  std::size_t first = t.rank() - 3;
  std::int64_t frame_offset = first == 1 ? frame * st[0] : 0;
  std::int64_t row_stride = st[first], col_stride = st[first + 1], chan_stride = st[first + 2];
  frame_pixels out;
  auto row_elems = static_cast<std::size_t>(l.width * l.channels);
  if (t.type() == dtype::u8 && chan_stride == 1 && col_stride == l.channels) {
    out.data = t.data<std::uint8_t>() + frame_offset;
    out.row_bytes = static_cast<std::size_t>(row_stride);
    return out;
  }
  out.storage.resize(row_elems * static_cast<std::size_t>(l.height));
  out.row_bytes = row_elems;
  auto* dst = out.storage.data();
  for (std::int64_t y = 0; y < l.height; ++y)
    for (std::int64_t x = 0; x < l.width; ++x)
      for (std::int64_t c = 0; c < l.channels; ++c) {
        auto at = frame_offset + y * row_stride + x * col_stride + c * chan_stride;
        std::uint8_t v;
        if (t.type() == dtype::u8) {
          v = t.data<std::uint8_t>()[at];
        } else {
          float f = t.data<float>()[at];
          f = std::isnan(f) ? 0.0f : std::clamp(f, 0.0f, 1.0f);
          v = static_cast<std::uint8_t>(std::lround(f * 255.0f));
        }
        *dst++ = v;
      }
  out.data = out.storage.data();
  return out;
}

}  // namespace loom
