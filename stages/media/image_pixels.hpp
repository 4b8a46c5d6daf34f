// Image and clip tensors read as 8-bit pixels for the PNG and H.264 writers: [H, W, C] images
// and [N, H, W, C] clips, C = 1 (grey), 3 (RGB) or 4 (RGBA), u8 or f32 in [0, 1].
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "devices/tensor.hpp"

namespace loom {

struct pixel_layout {
  std::int64_t frames = 1;  // 1 for an [H, W, C] image
  std::int64_t height = 0, width = 0, channels = 0;
};

// The layout of `t`; throws std::invalid_argument naming the tensor `name` and what it holds
// when it is not an image or clip on the CPU of a supported dtype.
pixel_layout pixel_layout_of(const tensor& t, std::string_view name);

// One frame as rows of width * channels bytes, `row_bytes` apart. u8 frames whose pixels are
// dense are read in place; f32 frames (clamped to [0, 1], × 255, rounded) and strided ones are
// converted into `storage`.
struct frame_pixels {
  const std::uint8_t* data = nullptr;
  std::size_t row_bytes = 0;
  std::vector<std::uint8_t> storage;
};

frame_pixels pixels_of_frame(const tensor& t, const pixel_layout& layout, std::int64_t frame);

}  // namespace loom
