// What the diffusion_decoder and video_decoder stage types share: their parameters, the stage
// itself (noise, sampler, pixel decoder) and its planner hooks. An image is a one-frame video,
// so the two types differ only in `frames` and in the name and rank of their output.
#pragma once

#include "stages/stage.hpp"

namespace loom {

// The spec of diffusion_decoder (video = false: one frame, output "image" [S, S, 3]) or of
// video_decoder (video = true: a `frames` parameter, output "frames" [F, S, S, 3]), every field
// but `type`, `summary` and `doc`.
stage_spec decoder_spec(bool video);

}  // namespace loom
