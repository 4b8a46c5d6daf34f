// The MLP half of a transformer block (docs/model-architecture.md), shared by the plain and the
// adaLN blocks: result = (silu(h·mlp.gate.weight) ⊙ (h·mlp.up.weight)) · mlp.down.weight.
// gate and up are fused into one [d, 2·d_ff] product at load; scratch is kept in the object.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "devices/device.hpp"
#include "stages/model/layers/linear.hpp"
#include "stages/model/weights.hpp"

namespace loom {

class swiglu_mlp {
 public:
  // prefix + ".gate.weight" [d_model, d_ff], ".up.weight" [d_model, d_ff], ".down.weight"
  // [d_ff, d_model], of `type` (prefix is e.g. "blocks.0.mlp").
  static std::vector<weight_spec> specs(const std::string& prefix, std::int64_t d_model,
                                        std::int64_t d_ff, dtype type);

  swiglu_mlp() = default;
  swiglu_mlp(const weights& w, const std::string& prefix);

  std::int64_t d_model() const { return down_.out(); }
  std::int64_t d_ff() const { return down_.in(); }

  // out = mlp(h) (or out += with `accumulate`), h and out [tokens, d_model] dense; out must not
  // overlap h.
  void forward(device& dev, const float* h, std::int64_t tokens, float* out,
               bool accumulate = false);

 private:
  linear gate_up_, down_;
  std::vector<float> hidden_;  // [tokens, 2·d_ff]: gate | up, then silu(gate)⊙up in the gate half
};

}  // namespace loom
