// What the text, image and video encoder stages share (docs/model-architecture.md): the
// parameters of the transformer trunk, opening the weights, and running embed → blocks → norm
// into a fresh [tokens, d_model] f32 "data" tensor on the stage's device. Each encoder says which
// embedding tensors it needs and how it turns its input packet into embedded token rows; the image
// and video encoders share the patch embedding.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "stages/model/kernels/patchify.hpp"
#include "stages/model/layers/encoder_trunk.hpp"
#include "stages/model/layers/linear.hpp"
#include "stages/model/weights.hpp"
#include "stages/stage.hpp"

namespace loom {

// The trunk's sizes and the weights' dtype, as the stage's parameters give them.
struct encoder_sizes {
  std::int64_t d_model = 0, layers = 0, heads = 0, d_ff = 0;
  dtype type = dtype::f32;
};

// weights, dtype, d_model, layers, heads, d_ff: the parameters every encoder has.
std::vector<param_spec> encoder_params();

// The sizes from `p`; throws std::invalid_argument naming `label` (e.g. "text_encoder 'text'")
// when d_model does not split into heads of an even size.
encoder_sizes read_encoder_sizes(const param_values& p, const std::string& label);

// Throws "LABEL: WHOLE = 30 is not a multiple of PART = 8" unless parameter `whole` divides by
// parameter `part` (image_size by patch, frames by tubelet).
void require_multiple(const param_values& p, const char* whole, const char* part,
                      const std::string& label);

// Arithmetic and weight bytes of the trunk for `tokens` tokens, for the stages' `estimate`.
double trunk_flops(const param_values& p, double tokens);
std::size_t trunk_weight_bytes(const param_values& p);

// "TYPE 'NAME'", how an encoder's errors name it.
std::string stage_label(const stage_context& ctx);

// The image and video encoders' embedding: pixels (u8 ÷ 255 or f32 in [0, 1]) mapped to 2·p − 1,
// cut into patches or tubelets (kernels::patchify) and projected by prefix.weight
// [token_size, d_model] + prefix.bias.
class patch_embedding {
 public:
  static std::vector<weight_spec> specs(const std::string& prefix,
                                        const kernels::patch_layout& layout,
                                        const encoder_sizes& sizes);

  patch_embedding() = default;
  patch_embedding(const weights& w, const std::string& prefix, const kernels::patch_layout& layout);

  // The token rows of `pixels` (dense, u8 or f32, laid out as the layout says — the caller has
  // checked the shape) into `x`, resized to [tokens, d_model]; returns the number of tokens.
  // Throws std::invalid_argument naming `label` for another dtype or a strided tensor.
  std::int64_t forward(device& dev, const tensor& pixels, const std::string& label,
                       std::vector<float>& x);

 private:
  kernels::patch_layout layout_;
  linear projection_;
  std::vector<float> pixels_;   // [frames, H, W, 3], 2·p − 1
  std::vector<float> patches_;  // [tokens, token_size]
};

class encoder_stage : public stage {
 public:
  void open(stage_context& ctx) final;
  void process(stage_context& ctx) final;

 protected:
  // The tensors of the embedding (beside the trunk's) for these parameters.
  virtual std::vector<weight_spec> embedding_specs(const param_values& p,
                                                   const encoder_sizes& sizes) const = 0;
  // Keeps what the embedding needs from the opened weights.
  virtual void load_embedding(const weights& w, const stage_context& ctx) = 0;
  // Writes the input packet's embedded token rows, [tokens, d_model], into `x` (resizing it as
  // needed) and returns the number of tokens; throws for an input the encoder cannot take.
  virtual std::int64_t embed(device& dev, const packet& input, std::vector<float>& x) = 0;

  const std::string& label() const { return label_; }
  const encoder_sizes& sizes() const { return sizes_; }

 private:
  std::string label_;
  encoder_sizes sizes_;
  encoder_trunk trunk_;
  std::vector<float> x_;
};

}  // namespace loom
