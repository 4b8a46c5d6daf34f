// Patches and tubelets of channels-last video (docs/model-architecture.md): an f32 array
// [frames, height, width, channels] cut into tokens of `tubelet` consecutive frames × one
// patch×patch square. Tokens are ordered (time, patch row, patch column); a token's vector is
// its values in (t, py, px, c) order, tubelet·patch²·channels long. An image is one frame with
// tubelet 1. `unpatchify` is the exact inverse (the diffusion decoders turn token rows back into
// latents with it).
#pragma once

#include <cstdint>

namespace loom::kernels {

struct patch_layout {
  std::int64_t frames = 1;
  std::int64_t height = 0;
  std::int64_t width = 0;
  std::int64_t channels = 0;
  std::int64_t patch = 1;
  std::int64_t tubelet = 1;

  // frames/tubelet · (height/patch) · (width/patch)
  std::int64_t tokens() const;
  // tubelet · patch² · channels
  std::int64_t token_size() const;
  // frames · height · width · channels
  std::int64_t elements() const;
  // Throws std::invalid_argument unless every size is positive and frames, height and width are
  // multiples of tubelet, patch and patch.
  void check() const;
};

// in: [frames, height, width, channels] → out: [tokens, token_size]. No overlap.
void patchify(const float* in, float* out, const patch_layout& layout);

// in: [tokens, token_size] → out: [frames, height, width, channels]. No overlap.
void unpatchify(const float* in, float* out, const patch_layout& layout);

}  // namespace loom::kernels
