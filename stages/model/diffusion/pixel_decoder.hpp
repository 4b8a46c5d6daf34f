// The diffusion decoders' pixel decoder (docs/model-architecture.md): a latent frame [h, w, C]
// to pixels [image_size, image_size, 3] in [0, 1] through 3×3 convolutions and nearest 2×
// upsamplings, n_up = log2(image_size / latent_size) of them:
//   y = silu(conv3x3(z, vae.conv_in))                               C → vae_channels
//   n_up times: y = silu(conv3x3(upsample_nearest_2x(y), vae.up.{i}))
//   pixels = clamp((conv3x3(y, vae.conv_out) + 1) / 2, 0, 1)        vae_channels → 3
// Buffers are sized at construction for the largest image: decoding allocates nothing.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "devices/device.hpp"
#include "stages/model/diffusion/decoder_config.hpp"
#include "stages/model/kernels/conv.hpp"
#include "stages/model/weights.hpp"

namespace loom {

class pixel_decoder {
 public:
  // vae.conv_in, vae.up.{i}, vae.conv_out: ".weight" [3, 3, in, out] and ".bias" [out], uniform
  // with fan_in = 9·in, all of config.type.
  static std::vector<weight_spec> specs(const decoder_config& config);

  pixel_decoder(const weights& w, const decoder_config& config);

  // pixels [image_size, image_size, 3] from one latent frame [latent_size, latent_size, C], both
  // dense.
  void decode(device& dev, const float* latent, float* pixels);

 private:
  struct conv_layer {
    tensor weight;            // [3, 3, in, out], f32 or bf16
    std::vector<float> bias;  // [out]
    std::int64_t in = 0, out = 0;
  };
  static conv_layer load(const weights& w, const std::string& prefix);
  void apply(device& dev, const conv_layer& layer, const float* x, std::int64_t side, float* y);

  decoder_config config_;
  conv_layer conv_in_, conv_out_;
  std::vector<conv_layer> up_;
  std::vector<float> features_, upsampled_;  // [image_size², vae_channels] each
  conv_scratch scratch_;
};

}  // namespace loom
