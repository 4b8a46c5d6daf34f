// The DiT velocity network of the diffusion decoders (docs/model-architecture.md): a latent
// [frames, h, w, C] is cut into patch tokens, embedded, run through adaLN blocks conditioned on c
// (conditioning.hpp), modulated once more and projected back to latent patches. With classifier-
// free guidance, v = v_u + guidance·(v_c − v_u) from a conditional and an unconditional (zero
// cond) pass; with guidance = 1 only the conditional pass runs.
//
//   velocity_network net(w, config);
//   net.set_condition(dev, cond, cond_rows);      // once per packet
//   net.velocity(dev, z, t, guidance, v);         // once per sampler step: one diffusion step
//
// Every buffer is sized at construction: an evaluation allocates nothing.
#pragma once

#include <cstdint>
#include <vector>

#include "devices/device.hpp"
#include "stages/model/diffusion/conditioning.hpp"
#include "stages/model/diffusion/decoder_config.hpp"
#include "stages/model/kernels/patchify.hpp"
#include "stages/model/layers/adaln_block.hpp"
#include "stages/model/layers/linear.hpp"
#include "stages/model/weights.hpp"

namespace loom {

class velocity_network {
 public:
  // latent_embed, pos_embed.weight [tokens, d], the conditioning's tensors, blocks.{i} (adaln_block), final.ada [d, 2d] and
  // final.proj [d, patch²·C], each with its bias, all of config.type.
  static std::vector<weight_spec> specs(const decoder_config& config);

  velocity_network(const weights& w, const decoder_config& config);

  // The condition half of c for the following evaluations: cond [rows, cond_dim] dense f32.
  void set_condition(device& dev, const float* cond, std::int64_t rows);

  // v = the guided velocity at time t of the latent z; z and v are [frames, h, w, C] dense and
  // must not overlap.
  void velocity(device& dev, const float* z, double t, double guidance, float* v);

 private:
  // The branch whose activations are x (its conditioning in c) through the blocks, then the final
  // modulated norm into normed_ at the branch's rows.
  void run_branch(device& dev, float* x, const float* c, float* normed);

  decoder_config config_;
  kernels::patch_layout layout_;
  conditioning conditioning_;
  linear latent_embed_, final_ada_, final_proj_;
  std::vector<float> pos_embed_;  // [T, d], widened to f32 at load
  std::vector<adaln_block> blocks_;
  // The branches side by side: rows [0, T) conditional, [T, 2T) unconditional.
  std::vector<float> patches_;           // [T, patch²·C]
  std::vector<float> x_;                 // [2T, d]
  std::vector<float> normed_;            // [2T, d]
  std::vector<float> out_tokens_;        // [2T, patch²·C]; the guided velocity in the first T
  std::vector<float> condition_half_;    // [2, d]
  std::vector<float> time_half_;         // [d]
  std::vector<float> c_;                 // [d]
  std::vector<float> silu_c_;            // [d]
  std::vector<float> final_modulation_;  // [2d]: shift, scale
};

}  // namespace loom
