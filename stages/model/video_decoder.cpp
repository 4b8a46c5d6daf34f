// video_decoder: a short clip from a condition, the diffusion decoder's DiT, sampler and pixel
// decoder over a latent of `frames` frames (docs/model-architecture.md). The DiT attends over the
// tokens of every frame at once, so the frames are generated together and stay coherent; each
// frame is then decoded to pixels on its own.
//
//   [stages.animator]
//   type = "video_decoder"
//   weights = "random:3"
//   frames = 8
//   latent_size = 8
//   patch = 2                   # 2×2 latent patches: a quarter of the tokens
//   image_size = 32
//   cond_dim = 256              # the backbone's d_model
//   steps = 8
//   guidance = 2.0
//   inputs.in = "backbone.out"
//
// The input is f32 [Tc, cond_dim] ("cond", "data" or the only tensor); the output "frames" is
// f32 [frames, image_size, image_size, 3] in [0, 1] with the input's metadata and "seed".
#include "stages/model/diffusion/decoder_stage.hpp"

namespace loom {

stage_spec video_decoder_spec() {
  stage_spec spec = decoder_spec(true);
  spec.type = "video_decoder";
  spec.summary =
      "A video clip from a condition: DiT over all frames + rectified flow + pixel decoder";
  spec.doc = R"(Generates a clip of `frames` frames from each input condition, f32 [Tc, cond_dim]:
an encoder's or the MoE backbone's "data" (a tensor called "cond" or the packet's only tensor
also works). It is diffusion_decoder over a latent [frames, latent_size, latent_size,
latent_channels]: the DiT's tokens are (frame, patch row, patch column), attended together, so
the frames are denoised jointly by rectified-flow Euler steps (with classifier-free guidance
when guidance ≠ 1); then each frame goes through the pixel decoder. The output "frames" is f32
[frames, image_size, image_size, 3] in [0, 1] (for video_sink or image_sink) with metadata
"seed"; the noise comes from `seed` and the packet's sequence number, so a packet gives the same
clip on every run. docs/model-architecture.md gives the tensor names and shapes of a weights
file.

    [stages.animator]
    type = "video_decoder"
    weights = "random:3"
    frames = 8
    latent_size = 8
    patch = 2
    image_size = 32
    cond_dim = 256
    steps = 8
    guidance = 2.0
    inputs.in = "backbone.out")";
  return spec;
}

}  // namespace loom
