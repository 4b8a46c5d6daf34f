// The encoders' shared trunk (see encoder_trunk.hpp).
#include "stages/model/layers/encoder_trunk.hpp"

#include <stdexcept>
#include <string>

#include <fmt/format.h>

#include "stages/model/kernels/norms.hpp"
#include "stages/model/layers/widen.hpp"

namespace loom {

std::vector<weight_spec> encoder_trunk::specs(std::int64_t d_model, std::int64_t layers,
                                              std::int64_t heads, std::int64_t d_ff, dtype type) {
  std::vector<weight_spec> specs;
  for (std::int64_t i = 0; i < layers; ++i) {
    auto block = transformer_block::specs(fmt::format("blocks.{}", i), d_model, heads, d_ff, type);
    specs.insert(specs.end(), block.begin(), block.end());
  }
  specs.push_back({"norm.weight", type, {d_model}, weight_fill::ones});
  return specs;
}

encoder_trunk::encoder_trunk(const weights& w, std::int64_t layers, std::int64_t heads)
    : norm_(widen_to_f32(w.get("norm.weight"))) {
  blocks_.reserve(static_cast<std::size_t>(layers));
  for (std::int64_t i = 0; i < layers; ++i) {
    blocks_.emplace_back(w, fmt::format("blocks.{}", i), heads);
    if (blocks_.back().d_model() != d_model())
      throw std::invalid_argument(fmt::format(
          "encoder: blocks.{} has d_model = {}, norm.weight {}", i, blocks_.back().d_model(),
          d_model()));
  }
}

void encoder_trunk::forward(device& dev, float* x, std::int64_t tokens, float* out) {
  for (auto& block : blocks_) block.forward(dev, x, tokens);
  kernels::rms_norm(x, norm_.data(), out, tokens, d_model());
}

}  // namespace loom
