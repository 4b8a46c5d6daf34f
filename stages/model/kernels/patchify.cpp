// Patches and tubelets to token rows and back (see patchify.hpp). A token is tubelet·patch runs
// of patch·channels contiguous floats, so each run is one memcpy.
#include "stages/model/kernels/patchify.hpp"

#include <cstring>
#include <stdexcept>

#include <fmt/format.h>

namespace loom::kernels {
namespace {

// Calls copy(token_offset, pixel_offset) for every run of patch·channels floats.
template <class Copy>
void for_each_run(const patch_layout& l, Copy&& copy) {
  const std::int64_t rows = l.height / l.patch, cols = l.width / l.patch;
  const std::int64_t run = l.patch * l.channels;
  std::int64_t token_offset = 0;
  for (std::int64_t f0 = 0; f0 < l.frames; f0 += l.tubelet)
    for (std::int64_t pr = 0; pr < rows; ++pr)
      for (std::int64_t pc = 0; pc < cols; ++pc)
        for (std::int64_t t = 0; t < l.tubelet; ++t)
          for (std::int64_t py = 0; py < l.patch; ++py) {
            const std::int64_t y = pr * l.patch + py, x = pc * l.patch;
            copy(token_offset, ((f0 + t) * l.height + y) * l.width * l.channels + x * l.channels);
            token_offset += run;
          }
}

}  // namespace

std::int64_t patch_layout::tokens() const {
  return (frames / tubelet) * (height / patch) * (width / patch);
}
std::int64_t patch_layout::token_size() const { return tubelet * patch * patch * channels; }
std::int64_t patch_layout::elements() const { return frames * height * width * channels; }

void patch_layout::check() const {
  if (frames <= 0 || height <= 0 || width <= 0 || channels <= 0 || patch <= 0 || tubelet <= 0)
    throw std::invalid_argument(fmt::format(
        "patchify: every size must be positive, got frames={} height={} width={} channels={} "
        "patch={} tubelet={}",
        frames, height, width, channels, patch, tubelet));
  if (height % patch != 0 || width % patch != 0 || frames % tubelet != 0)
    throw std::invalid_argument(fmt::format(
        "patchify: {}×{} pixels do not split into {}×{} patches, or {} frames into tubelets of {}",
        height, width, patch, patch, frames, tubelet));
}

void patchify(const float* in, float* out, const patch_layout& layout) {
  const auto run_bytes = static_cast<std::size_t>(layout.patch * layout.channels) * sizeof(float);
  for_each_run(layout, [&](std::int64_t token_offset, std::int64_t pixel_offset) {
    std::memcpy(out + token_offset, in + pixel_offset, run_bytes);
  });
}

void unpatchify(const float* in, float* out, const patch_layout& layout) {
  const auto run_bytes = static_cast<std::size_t>(layout.patch * layout.channels) * sizeof(float);
  for_each_run(layout, [&](std::int64_t token_offset, std::int64_t pixel_offset) {
    std::memcpy(out + pixel_offset, in + token_offset, run_bytes);
  });
}

}  // namespace loom::kernels
