// diffusion_decoder: an image from a condition (a text or image encoder's output, or the MoE
// backbone's): a DiT velocity network with adaLN conditioning, sampled by rectified flow with
// Euler steps and optional classifier-free guidance, then a small convolutional pixel decoder
// (docs/model-architecture.md). The starting noise is keyed by `seed` and the packet's sequence
// number, so a packet gives the same picture on every run.
//
//   [stages.painter]
//   type = "diffusion_decoder"
//   weights = "models/tiny/decoder.safetensors"   # or "random:SEED"
//   dtype = "f32"                                 # or "bf16"
//   latent_size = 8
//   image_size = 32                               # latent_size · 2^n
//   d_model = 256
//   layers = 4
//   cond_dim = 256                                # the encoder's d_model
//   steps = 8
//   guidance = 3.0                                # 1: no classifier-free guidance
//   seed = 42
//   inputs.in = "text.out"
//
// The input is f32 [Tc, cond_dim] ("cond", "data" or the only tensor); the output "image" is f32
// [image_size, image_size, 3] in [0, 1] with the input's metadata and "seed".
#include "stages/model/diffusion/decoder_stage.hpp"

namespace loom {

stage_spec diffusion_decoder_spec() {
  stage_spec spec = decoder_spec(false);
  spec.type = "diffusion_decoder";
  spec.summary = "An image from a condition: DiT + rectified-flow sampler + pixel decoder";
  spec.doc = R"(Generates an image from each input condition, f32 [Tc, cond_dim]: an encoder's or
the MoE backbone's "data" (a tensor called "cond" or the packet's only tensor also works). A DiT
velocity network, conditioned through adaLN on the mean of the condition rows and on the
timestep, is integrated by Euler steps of rectified flow from noise at t = 1 to a latent at t =
0; with guidance ≠ 1 each step also runs an unconditional pass (zero condition) and mixes v_u +
guidance·(v_c − v_u). A convolutional pixel decoder then upsamples the latent [latent_size,
latent_size, latent_channels] to "image", f32 [image_size, image_size, 3] in [0, 1]. The noise
comes from `seed` and the packet's sequence number, so a packet gives the same image on every
run; the output carries metadata "seed". docs/model-architecture.md gives the arithmetic and the
tensor names and shapes of a weights file; dtype = "bf16" takes a bf16 file and multiplies in
bf16 with f32 accumulation.

    [stages.painter]
    type = "diffusion_decoder"
    weights = "models/tiny/decoder.safetensors"
    latent_size = 8
    image_size = 32
    d_model = 256
    layers = 4
    cond_dim = 256
    steps = 8
    guidance = 3.0
    seed = 42
    inputs.in = "text.out")";
  return spec;
}

}  // namespace loom
