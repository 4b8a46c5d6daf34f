// Reading and checking a diffusion decoder's sizes (see decoder_config.hpp).
#include "stages/model/diffusion/decoder_config.hpp"

#include <stdexcept>

#include <fmt/format.h>

namespace loom {

decoder_config decoder_config::from_params(const param_values& p) {
  decoder_config c;
  if (p.has("frames")) c.frames = p.integer("frames");
  c.latent_size = p.integer("latent_size");
  c.latent_channels = p.integer("latent_channels");
  c.patch = p.integer("patch");
  c.image_size = p.integer("image_size");
  c.vae_channels = p.integer("vae_channels");
  c.d_model = p.integer("d_model");
  c.layers = p.integer("layers");
  c.heads = p.integer("heads");
  c.d_ff = p.integer("d_ff");
  c.cond_dim = p.integer("cond_dim");
  c.steps = p.integer("steps");
  c.guidance = p.number("guidance");
  c.seed = static_cast<std::uint64_t>(p.integer("seed"));
  c.type = p.string("dtype") == "bf16" ? dtype::bf16 : dtype::f32;
  return c;
}

void decoder_config::check(const std::string& stage) const {
  auto fail = [&](const std::string& why) {
    throw std::invalid_argument(fmt::format("{}: {}", stage, why));
  };
  if (d_model % heads != 0 || (d_model / heads) % 2 != 0)
    fail(
        fmt::format("d_model = {} does not split into heads = {} heads of an even size (RoPE "
                    "rotates pairs); make d_model a multiple of 2·heads",
                    d_model, heads));
  if (latent_size % patch != 0)
    fail(
        fmt::format("latent_size = {} is not a multiple of patch = {}; choose a patch that "
                    "divides the latent size",
                    latent_size, patch));
  if (image_size % latent_size != 0 || upsamplings() < 0)
    fail(
        fmt::format("image_size = {} is not latent_size = {} times a power of two; set "
                    "image_size to {}, {}, {}, …",
                    image_size, latent_size, latent_size, 2 * latent_size, 4 * latent_size));
}

std::int64_t decoder_config::upsamplings() const {
  if (latent_size <= 0 || image_size % latent_size != 0) return -1;
  std::int64_t ratio = image_size / latent_size, n = 0;
  while (ratio > 1 && ratio % 2 == 0) {
    ratio /= 2;
    ++n;
  }
  return ratio == 1 ? n : -1;
}

std::int64_t decoder_config::tokens_per_frame() const {
  const std::int64_t side = latent_size / patch;
  return side * side;
}

double decoder_config::velocity_flops() const {
  const double t = static_cast<double>(tokens()), d = static_cast<double>(d_model),
               ff = static_cast<double>(d_ff), in = static_cast<double>(token_size());
  const double conditioning = 2.0 * (2.0 * d * d + static_cast<double>(cond_dim) * d);
  const double block =
      2.0 * (t * d * 3.0 * d + 2.0 * t * t * d + t * d * d + 3.0 * t * d * ff + d * 6.0 * d);
  const double branch = conditioning + 2.0 * t * in * d + static_cast<double>(layers) * block +
                        2.0 * (d * 2.0 * d + t * d * in);
  return (guided() ? 2.0 : 1.0) * branch;
}

double decoder_config::pixel_decoder_flops() const {
  const double vc = static_cast<double>(vae_channels);
  double side = static_cast<double>(latent_size);
  double flops = 2.0 * side * side * 9.0 * static_cast<double>(latent_channels) * vc;
  for (std::int64_t i = 0; i < upsamplings(); ++i) {
    side *= 2.0;
    flops += 2.0 * side * side * 9.0 * vc * vc;
  }
  flops += 2.0 * side * side * 9.0 * vc * 3.0;
  return static_cast<double>(frames) * flops;
}

}  // namespace loom
