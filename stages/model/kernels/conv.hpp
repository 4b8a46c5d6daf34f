// 3×3 convolution (padding 1, stride 1) and nearest-neighbour 2× upsampling on channels-last
// [H, W, C] f32 images: what the diffusion decoders' pixel decoder is made of. The convolution is
// one im2col matrix [H·W, 9·in] (column (ky·3 + kx)·in + c, as docs/model-architecture.md fixes
// it) times the weight [3, 3, in, out] read as [9·in, out], so it runs as a single device gemm
// rather than nine small ones.
#pragma once

#include <cstdint>
#include <vector>

#include "devices/device.hpp"

namespace loom {

// The im2col matrix, kept by the caller so that repeated convolutions allocate nothing once it has
// grown to the largest size. bf16 weights multiply a bf16 copy of the matrix (`columns_bf16`).
struct conv_scratch {
  std::vector<float> columns;
  std::vector<std::uint16_t> columns_bf16;
};

// y[H, W, out] = conv3x3(x[H, W, in]) + bias. `weight` is [3, 3, in, out], f32 or bf16 (then the
// im2col matrix is rounded to bf16 and the product accumulates in f32); `bias` is [out] f32 or
// null. `x` and `y` must not overlap.
void conv3x3(device& dev, const float* x, std::int64_t height, std::int64_t width,
             std::int64_t in_channels, const std::byte* weight, dtype weight_type,
             const float* bias, std::int64_t out_channels, float* y, conv_scratch& scratch);

// y[2H, 2W, C] = each pixel of x[H, W, C] repeated in a 2×2 block.
void upsample_nearest_2x(const float* x, std::int64_t height, std::int64_t width,
                         std::int64_t channels, float* y);

}  // namespace loom
