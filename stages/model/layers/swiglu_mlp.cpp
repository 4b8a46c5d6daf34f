// The SwiGLU MLP (see swiglu_mlp.hpp): one fused gate|up product, the gate, the down projection.
#include "stages/model/layers/swiglu_mlp.hpp"

#include <stdexcept>

#include <fmt/format.h>

#include "stages/model/kernels/activations.hpp"

namespace loom {

std::vector<weight_spec> swiglu_mlp::specs(const std::string& prefix, std::int64_t d_model,
                                           std::int64_t d_ff, dtype type) {
  auto specs = linear::specs(prefix + ".gate", d_model, d_ff, false, type);
  auto up = linear::specs(prefix + ".up", d_model, d_ff, false, type);
  auto down = linear::specs(prefix + ".down", d_ff, d_model, false, type);
  specs.insert(specs.end(), up.begin(), up.end());
  specs.insert(specs.end(), down.begin(), down.end());
  return specs;
}

swiglu_mlp::swiglu_mlp(const weights& w, const std::string& prefix)
    : gate_up_(w, {prefix + ".gate", prefix + ".up"}), down_(w, prefix + ".down") {
  if (gate_up_.out() != 2 * down_.in() || gate_up_.in() != down_.out())
    throw std::invalid_argument(fmt::format(
        "mlp \"{}\": gate and up must be [d, d_ff] and down [d_ff, d]; found gate|up [{}, {}] "
        "and down [{}, {}]",
        prefix, gate_up_.in(), gate_up_.out(), down_.in(), down_.out()));
}

void swiglu_mlp::forward(device& dev, const float* h, std::int64_t tokens, float* out,
                         bool accumulate) {
  const std::int64_t d = d_model(), ff = d_ff();
  if (static_cast<std::int64_t>(hidden_.size()) < tokens * 2 * ff)
    hidden_.resize(static_cast<std::size_t>(tokens * 2 * ff));
  gate_up_.forward(dev, h, tokens, d, hidden_.data(), 2 * ff);
  for (std::int64_t t = 0; t < tokens; ++t) {
    float* gate = hidden_.data() + t * 2 * ff;
    kernels::swiglu(gate, gate + ff, gate, ff);
  }
  down_.forward(dev, hidden_.data(), tokens, 2 * ff, out, d, accumulate);
}

}  // namespace loom
