// The sizes of a diffusion decoder (docs/model-architecture.md), read from a stage's parameters
// and checked once, so the velocity network, the pixel decoder and the sampler can take them as
// given. diffusion_decoder is the one-frame case of video_decoder; both read this.
#pragma once

#include <cstdint>
#include <string>

#include "devices/dtype.hpp"
#include "stages/params.hpp"

namespace loom {

struct decoder_config {
  std::int64_t frames = 1;
  std::int64_t latent_size = 8;      // h = w of the latent
  std::int64_t latent_channels = 4;  // C
  std::int64_t patch = 1;            // latent patch of a DiT token
  std::int64_t image_size = 32;      // latent_size · 2^upsamplings
  std::int64_t vae_channels = 32;
  std::int64_t d_model = 64;
  std::int64_t layers = 2;
  std::int64_t heads = 4;
  std::int64_t d_ff = 128;
  std::int64_t cond_dim = 64;
  std::int64_t steps = 8;
  double guidance = 1.0;
  std::uint64_t seed = 0;
  dtype type = dtype::f32;

  // The parameters of a diffusion_decoder or video_decoder stage (frames: 1 where the stage has
  // no `frames` parameter).
  static decoder_config from_params(const param_values& params);

  // Throws std::invalid_argument naming `stage` (e.g. "diffusion_decoder 'dec'"), the parameter,
  // what it must be and how to fix it, for sizes that no model can have.
  void check(const std::string& stage) const;

  bool guided() const { return guidance != 1.0; }
  std::int64_t upsamplings() const;       // log2(image_size / latent_size)
  std::int64_t tokens_per_frame() const;  // (latent_size / patch)²
  std::int64_t tokens() const { return frames * tokens_per_frame(); }
  std::int64_t token_size() const { return patch * patch * latent_channels; }
  std::int64_t latent_elements() const {
    return frames * latent_size * latent_size * latent_channels;
  }
  std::int64_t frame_pixels() const { return image_size * image_size; }

  // Arithmetic of one velocity evaluation (both branches when guided) and of decoding the
  // frames to pixels, for the planner.
  double velocity_flops() const;
  double pixel_decoder_flops() const;
};

}  // namespace loom
