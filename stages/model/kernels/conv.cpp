// 3×3 convolution as im2col + one gemm, and nearest 2× upsampling (see conv.hpp).
#include "stages/model/kernels/conv.hpp"

#include <algorithm>
#include <cstring>

#include "devices/float_convert.hpp"

namespace loom {
namespace {

// Row p of the matrix holds, for each of the nine taps in (ky, kx) order, the `in` channels of the
// neighbour it reads, or zeros where the neighbour lies in the padding.
void im2col_3x3(const float* x, std::int64_t height, std::int64_t width, std::int64_t in,
                float* columns) {
  const std::int64_t row_length = 9 * in;
  for (std::int64_t py = 0; py < height; ++py)
    for (std::int64_t px = 0; px < width; ++px) {
      float* row = columns + (py * width + px) * row_length;
      for (std::int64_t ky = 0; ky < 3; ++ky) {
        const std::int64_t sy = py + ky - 1;
        for (std::int64_t kx = 0; kx < 3; ++kx) {
          const std::int64_t sx = px + kx - 1;
          float* tap = row + (ky * 3 + kx) * in;
          if (sy < 0 || sy >= height || sx < 0 || sx >= width)
            std::fill(tap, tap + in, 0.0f);
          else
            std::memcpy(tap, x + (sy * width + sx) * in, static_cast<std::size_t>(in) * 4);
        }
      }
    }
}

[[gnu::target_clones("arch=x86-64-v3", "default")]] void round_to_bf16(const float* from,
                                                                       std::size_t n,
                                                                       std::uint16_t* to) {
  for (std::size_t i = 0; i < n; ++i) to[i] = bf16_from_f32(from[i]);
}

}  // namespace

void conv3x3(device& dev, const float* x, std::int64_t height, std::int64_t width,
             std::int64_t in_channels, const std::byte* weight, dtype weight_type,
             const float* bias, std::int64_t out_channels, float* y, conv_scratch& scratch) {
  const std::int64_t pixels = height * width, k = 9 * in_channels;
  const auto elements = static_cast<std::size_t>(pixels * k);
  if (scratch.columns.size() < elements) scratch.columns.resize(elements);
  im2col_3x3(x, height, width, in_channels, scratch.columns.data());
  const std::byte* columns = reinterpret_cast<const std::byte*>(scratch.columns.data());
  if (weight_type == dtype::bf16) {
    if (scratch.columns_bf16.size() < elements) scratch.columns_bf16.resize(elements);
    round_to_bf16(scratch.columns.data(), elements, scratch.columns_bf16.data());
    columns = reinterpret_cast<const std::byte*>(scratch.columns_bf16.data());
  }
  float beta = 0.0f;
  if (bias) {
    for (std::int64_t p = 0; p < pixels; ++p)
      std::memcpy(y + p * out_channels, bias, static_cast<std::size_t>(out_channels) * 4);
    beta = 1.0f;
  }
  gemm_args args;
  args.type = weight_type;
  args.m = pixels;
  args.n = out_channels;
  args.k = k;
  args.a = columns;
  args.lda = k;
  args.b = weight;
  args.ldb = out_channels;
  args.c = reinterpret_cast<std::byte*>(y);
  args.ldc = out_channels;
  args.beta = beta;
  dev.gemm(args);
}

void upsample_nearest_2x(const float* x, std::int64_t height, std::int64_t width,
                         std::int64_t channels, float* y) {
  const auto pixel_bytes = static_cast<std::size_t>(channels) * 4;
  const std::int64_t out_width = 2 * width;
  for (std::int64_t sy = 0; sy < height; ++sy) {
    float* top = y + (2 * sy) * out_width * channels;
    for (std::int64_t sx = 0; sx < width; ++sx) {
      const float* pixel = x + (sy * width + sx) * channels;
      std::memcpy(top + (2 * sx) * channels, pixel, pixel_bytes);
      std::memcpy(top + (2 * sx + 1) * channels, pixel, pixel_bytes);
    }
    std::memcpy(top + out_width * channels, top, static_cast<std::size_t>(out_width) * pixel_bytes);
  }
}

}  // namespace loom
