// A linear layer, y = x · W + b, on a device's matrix product. The weight is stored [in, out]
// (docs/model-architecture.md), f32 or bf16 as in the file; with bf16 the activation rows are
// rounded to bf16 into a scratch kept in the object and the product accumulates in f32. The bias,
// if any, is widened to f32 at load. Weights load into host memory; `to_device` moves them into
// a GPU's, and `forward` then takes pointers into that memory (rounding and bias run there too,
// through the device's element-wise kernels).
//
//   auto w = weights::open(spec, linear::specs("proj", 64, 128, true, dtype::bf16));
//   linear proj(w, "proj");
//   proj.forward(dev, x, rows, 64, y, 128);       // y = x·W + b
//
// Several weights with the same `in` can be fused into one (their columns side by side), so that
// q, k and v (or an MLP's gate and up) cost one product: `linear(w, {"attn.q", "attn.k",
// "attn.v"})` multiplies into [rows, 3·out].
// Not thread-safe: a stage is never called from two threads at once.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "devices/device.hpp"
#include "stages/model/weights.hpp"

namespace loom {

class linear {
 public:
  // prefix + ".weight" [in, out] of `type`, uniform with fan_in = in; with `has_bias`, prefix +
  // ".bias" [out] of `type`, also uniform with fan_in = in (PyTorch's nn.Linear recipe).
  static std::vector<weight_spec> specs(const std::string& prefix, std::int64_t in,
                                        std::int64_t out, bool has_bias, dtype type);

  linear() = default;
  // The layer prefix + ".weight" (and prefix + ".bias" where `w` holds one) of `w`; the tensors
  // are shared, not copied.
  linear(const weights& w, const std::string& prefix);
  // The layers `prefixes` fused along the output: W = [W_0 | W_1 | …] (copied once), b likewise
  // (each part's bias or zeros). Every part must have the same `in` and dtype.
  linear(const weights& w, const std::vector<std::string>& prefixes);

  std::int64_t in() const { return in_; }
  std::int64_t out() const { return out_; }
  dtype type() const { return weight_.type(); }
  bool has_bias() const { return bias_.rank() > 0; }

  // Moves the weight and bias into `dev`'s memory (nothing moves when they are there already);
  // `forward` must then be given that device.
  void to_device(device& dev);

  // y = x · W + b, or with `accumulate` y += x · W + b. x: [rows, in] with row stride ldx;
  // y: [rows, out] with row stride ldy; y must not overlap x; both in `dev`'s memory, where the
  // weight must be. No allocation once the scratch has grown to the largest `rows` seen.
  void forward(device& dev, const float* x, std::int64_t rows, std::int64_t ldx, float* y,
               std::int64_t ldy, bool accumulate = false);

 private:
  tensor weight_;  // [in, out], f32 or bf16
  tensor bias_;    // f32 [out], or none
  buffer x16_;     // bf16 activations, [rows, in], in the memory of the device last used
  std::int64_t in_ = 0, out_ = 0;
};

}  // namespace loom
