// The DiT's conditioning vector c (docs/model-architecture.md), in its two halves: the condition
// half, cond_proj over the mean of the `cond` rows, changes once per packet; the time half, the
// sinusoidal embedding of t through time_mlp, changes once per sampler step. c is their sum.
//   temb = [cos(1000·t·f_j)] ++ [sin(1000·t·f_j)], f_j = exp(−ln(10000)·j/half), half = d/2
//   c = mean_rows(cond)·cond_proj.weight + cond_proj.bias
//     + silu(temb·time_mlp.0.weight + time_mlp.0.bias)·time_mlp.2.weight + time_mlp.2.bias
#pragma once

#include <cstdint>
#include <vector>

#include "devices/device.hpp"
#include "stages/model/diffusion/decoder_config.hpp"
#include "stages/model/layers/linear.hpp"
#include "stages/model/weights.hpp"

namespace loom {

// temb for time t into out [d] (d even), computed in double and rounded.
void timestep_embedding(double t, std::int64_t d, float* out);

class conditioning {
 public:
  // time_mlp.0 [d, d] + bias, time_mlp.2 [d, d] + bias, cond_proj [cond_dim, d] + bias.
  static std::vector<weight_spec> specs(const decoder_config& config);

  conditioning() = default;
  conditioning(const weights& w, const decoder_config& config);

  // out [d] = mean_rows(cond)·cond_proj.weight + cond_proj.bias; cond is [rows, cond_dim]
  // dense, or null for the unconditional branch (zero cond).
  void condition(device& dev, const float* cond, std::int64_t rows, float* out);

  // out [d] = the time half of c at t.
  void time(device& dev, double t, float* out);

 private:
  linear time_in_, time_out_, cond_proj_;
  std::vector<float> mean_;    // [cond_dim]
  std::vector<float> temb_;    // [d]
  std::vector<float> hidden_;  // [d]
};

}  // namespace loom
