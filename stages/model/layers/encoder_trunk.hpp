// What the text, image and video encoders share after their embeddings
// (docs/model-architecture.md): `layers` transformer blocks (`blocks.{i}.*`) and a final
// rms_norm with `norm.weight`.
#pragma once

#include <cstdint>
#include <vector>

#include "devices/device.hpp"
#include "stages/model/layers/transformer_block.hpp"
#include "stages/model/weights.hpp"

namespace loom {

class encoder_trunk {
 public:
  // blocks.0 … blocks.{layers−1} (transformer_block::specs) and norm.weight [d_model] (ones),
  // all of `type`.
  static std::vector<weight_spec> specs(std::int64_t d_model, std::int64_t layers,
                                        std::int64_t heads, std::int64_t d_ff, dtype type);

  encoder_trunk() = default;
  encoder_trunk(const weights& w, std::int64_t layers, std::int64_t heads);

  std::int64_t d_model() const { return static_cast<std::int64_t>(norm_.size()); }

  // x: [tokens, d_model] dense, run through the blocks in place; out = rms_norm(x, norm.weight),
  // [tokens, d_model] dense (out may be x).
  void forward(device& dev, float* x, std::int64_t tokens, float* out);

 private:
  std::vector<transformer_block> blocks_;
  std::vector<float> norm_;
};

}  // namespace loom
