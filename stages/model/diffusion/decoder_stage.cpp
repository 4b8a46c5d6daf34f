// The diffusion decoder stage shared by diffusion_decoder and video_decoder (see
// decoder_stage.hpp): per packet, noise keyed by the seed and the packet's sequence number, the
// guided Euler sampler over the DiT, then the pixel decoder frame by frame.
#include "stages/model/diffusion/decoder_stage.hpp"

#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "stages/model/diffusion/decoder_config.hpp"
#include "stages/model/diffusion/noise.hpp"
#include "stages/model/diffusion/pixel_decoder.hpp"
#include "stages/model/diffusion/sampler.hpp"
#include "stages/model/diffusion/velocity_network.hpp"
#include "stages/input_path.hpp"
#include "stages/model/weights.hpp"

namespace loom {
namespace {

std::vector<weight_spec> decoder_weights(const decoder_config& c) {
  auto all = velocity_network::specs(c);
  auto pixels = pixel_decoder::specs(c);
  all.insert(all.end(), pixels.begin(), pixels.end());
  return all;
}

std::size_t weight_bytes(const decoder_config& c) {
  std::size_t bytes = 0;
  for (const auto& spec : decoder_weights(c)) {
    std::size_t n = size_of(spec.type);
    for (auto extent : spec.shape) n *= static_cast<std::size_t>(extent);
    bytes += n;
  }
  return bytes;
}

dims output_shape(const decoder_config& c, bool video) {
  if (video) return {c.frames, c.image_size, c.image_size, 3};
  return {c.image_size, c.image_size, 3};
}

class decoder_stage final : public stage {
 public:
  explicit decoder_stage(bool video) : video_(video) {}

  void open(stage_context& ctx) override {
    label_ = fmt::format("{} '{}'", ctx.spec().type, ctx.name());
    config_ = decoder_config::from_params(ctx.params());
    config_.check(label_);
    weights_ = weights::open(input_path(ctx.params().string("weights"), ctx.run()),
                             decoder_weights(config_));
    network_.emplace(*weights_, config_);
    pixels_.emplace(*weights_, config_);
    latent_.resize(static_cast<std::size_t>(config_.latent_elements()));
    velocity_.resize(latent_.size());
  }

  void process(stage_context& ctx) override {
    const packet& in = ctx.input();
    const tensor& cond = cond_tensor(in);
    auto& dev = ctx.device();
    gaussian_noise(config_.seed, in.sequence, latent_.data(), latent_.size());
    network_->set_condition(dev, cond.data<float>(), cond.shape()[0]);
    sample_latent(dev, *network_, config_.steps, config_.guidance, latent_.data(), velocity_.data(),
                  config_.latent_elements());

    tensor pixels = dev.allocate_tensor(dtype::f32, output_shape(config_, video_));
    const std::int64_t latent_frame =
        config_.latent_size * config_.latent_size * config_.latent_channels;
    const std::int64_t pixel_frame = config_.frame_pixels() * 3;
    for (std::int64_t f = 0; f < config_.frames; ++f)
      pixels_->decode(dev, latent_.data() + f * latent_frame,
                      pixels.data<float>() + f * pixel_frame);

    packet out = in.derive();
    set_metadata(out, "seed", std::to_string(config_.seed));
    out.tensors.push_back({video_ ? "frames" : "image", std::move(pixels)});
    ctx.emit("out", std::move(out));
  }

 private:
  // "cond", else "data", else the packet's only tensor: f32 [Tc, cond_dim] with dense rows.
  const tensor& cond_tensor(const packet& p) const {
    const tensor* cond = p.find("cond");
    if (!cond) cond = p.find("data");
    if (!cond && p.tensors.size() == 1) cond = &p.tensors.front().value;
    if (!cond)
      throw std::invalid_argument(fmt::format(
          "{}: the input packet has {} tensors and none is called \"cond\" or \"data\"; connect "
          "the output of an encoder or backbone ([tokens, {}] f32)",
          label_, p.tensors.size(), config_.cond_dim));
    if (cond->type() != dtype::f32 || cond->rank() != 2 || cond->shape()[1] != config_.cond_dim ||
        cond->shape()[0] < 1 || !cond->is_contiguous())
      throw std::invalid_argument(fmt::format(
          "{}: the condition is {} {}{}; this decoder takes dense f32 [Tc, {}] with Tc ≥ 1 (set "
          "cond_dim to the encoder's d_model)",
          label_, name_of(cond->type()), to_string(cond->shape()),
          cond->is_contiguous() ? "" : " (not dense)", config_.cond_dim));
    return *cond;
  }

  static void set_metadata(packet& p, const std::string& key, std::string value) {
    for (auto& [k, v] : p.metadata)
      if (k == key) {
        v = std::move(value);
        return;
      }
    p.metadata.emplace_back(key, std::move(value));
  }

  bool video_;
  std::string label_;
  decoder_config config_;
  std::optional<weights> weights_;
  std::optional<velocity_network> network_;
  std::optional<pixel_decoder> pixels_;
  std::vector<float> latent_, velocity_;
};

}  // namespace

stage_spec decoder_spec(bool video) {
  stage_spec spec;
  spec.inputs = {{"in",
                  "the condition, f32 [Tc, cond_dim]: \"cond\", \"data\" (an encoder's output) or "
                  "the packet's only tensor",
                  {dtype::f32, 2}}};
  spec.outputs = {{"out",
                   video ? "\"frames\" f32 [frames, image_size, image_size, 3] in [0, 1], metadata "
                           "\"seed\""
                         : "\"image\" f32 [image_size, image_size, 3] in [0, 1], metadata \"seed\"",
                   {dtype::f32, video ? 4 : 3}}};
  spec.params = {
      string_param("weights", "random:0",
                   "a .safetensors file (relative: against the graph file) or \"random:SEED\""),
      string_param("dtype", "f32", "the dtype of every tensor in the weights", {"f32", "bf16"}),
      integer_param("latent_size", 8, "h = w of the latent", 1),
      integer_param("latent_channels", 4, "C, channels of the latent", 1),
      integer_param("patch", 1, "latent patch of a DiT token (divides latent_size)", 1),
      integer_param("image_size", 32, "output side: latent_size · 2^n", 1),
      integer_param("vae_channels", 32, "channels of the pixel decoder's convolutions", 1),
      integer_param("d_model", 64, "DiT width (a multiple of 2·heads)", 2),
      integer_param("layers", 2, "DiT adaLN blocks", 0),
      integer_param("heads", 4, "attention heads", 1),
      integer_param("d_ff", 128, "hidden width of the SwiGLU MLPs", 1),
      integer_param("cond_dim", 64, "width of the condition rows (the encoder's d_model)", 1),
      integer_param("steps", 8, "Euler steps from t = 1 to t = 0", 1),
      number_param("guidance", 1.0,
                   "classifier-free guidance scale; 1: conditional only (half the work)", 0.0),
      integer_param("seed", 0, "noise seed; a packet's noise also depends on its sequence number",
                    0),
  };
  if (video) spec.params.push_back(integer_param("frames", 4, "frames of the generated clip", 1));
  spec.device_kinds = {"cpu"};
  spec.make = [video] { return std::make_unique<decoder_stage>(video); };
  spec.infer = [video](const param_values& p, const std::vector<port_type>&) {
    const auto config = decoder_config::from_params(p);
    return std::vector<port_type>{{dtype::f32, video ? 4 : 3, output_shape(config, video)}};
  };
  spec.estimate = [](const param_values& p, const std::vector<port_type>&) {
    const auto c = decoder_config::from_params(p);
    const double flops =
        static_cast<double>(c.steps) * c.velocity_flops() + c.pixel_decoder_flops();
    // Weights plus the largest activations: the DiT's two branches and the pixel decoder's
    // feature maps.
    const auto activations = static_cast<std::size_t>(
        4 * (4 * c.tokens() * (c.d_model + c.d_ff) + 3 * c.frame_pixels() * c.vae_channels * 9));
    return stage_cost{flops, weight_bytes(c) + activations};
  };
  return spec;
}

}  // namespace loom
