// The pixel decoder (see pixel_decoder.hpp).
#include "stages/model/diffusion/pixel_decoder.hpp"

#include <algorithm>

#include "stages/model/kernels/activations.hpp"
#include "stages/model/layers/widen.hpp"

namespace loom {
namespace {

void conv_specs(std::vector<weight_spec>& all, const std::string& prefix, std::int64_t in,
                std::int64_t out, dtype type) {
  all.push_back({prefix + ".weight", type, {3, 3, in, out}, weight_fill::uniform, 9 * in});
  all.push_back({prefix + ".bias", type, {out}, weight_fill::uniform, 9 * in});
}

}  // namespace

std::vector<weight_spec> pixel_decoder::specs(const decoder_config& c) {
  std::vector<weight_spec> all;
  conv_specs(all, "vae.conv_in", c.latent_channels, c.vae_channels, c.type);
  for (std::int64_t i = 0; i < c.upsamplings(); ++i)
    conv_specs(all, "vae.up." + std::to_string(i), c.vae_channels, c.vae_channels, c.type);
  conv_specs(all, "vae.conv_out", c.vae_channels, 3, c.type);
  return all;
}

pixel_decoder::conv_layer pixel_decoder::load(const weights& w, const std::string& prefix) {
  conv_layer layer;
  layer.weight = w.get(prefix + ".weight");
  layer.bias = widen_to_f32(w.get(prefix + ".bias"));
  layer.in = layer.weight.shape()[2];
  layer.out = layer.weight.shape()[3];
  return layer;
}

pixel_decoder::pixel_decoder(const weights& w, const decoder_config& c)
    : config_(c),
      conv_in_(load(w, "vae.conv_in")),
      conv_out_(load(w, "vae.conv_out")),
      features_(static_cast<std::size_t>(c.frame_pixels() * c.vae_channels)),
      upsampled_(features_.size()) {
  for (std::int64_t i = 0; i < c.upsamplings(); ++i)
    up_.push_back(load(w, "vae.up." + std::to_string(i)));
}

void pixel_decoder::apply(device& dev, const conv_layer& layer, const float* x, std::int64_t side,
                          float* y) {
  conv3x3(dev, x, side, side, layer.in, layer.weight.raw(), layer.weight.type(), layer.bias.data(),
          layer.out, y, scratch_);
}

void pixel_decoder::decode(device& dev, const float* latent, float* pixels) {
  std::int64_t side = config_.latent_size;
  const std::int64_t channels = config_.vae_channels;
  apply(dev, conv_in_, latent, side, features_.data());
  kernels::silu(features_.data(), side * side * channels);
  for (const auto& layer : up_) {
    upsample_nearest_2x(features_.data(), side, side, channels, upsampled_.data());
    side *= 2;
    apply(dev, layer, upsampled_.data(), side, features_.data());
    kernels::silu(features_.data(), side * side * channels);
  }
  apply(dev, conv_out_, features_.data(), side, pixels);
  const std::int64_t n = side * side * 3;
  for (std::int64_t i = 0; i < n; ++i)
    pixels[i] = std::clamp((pixels[i] + 1.0f) * 0.5f, 0.0f, 1.0f);
}

}  // namespace loom
