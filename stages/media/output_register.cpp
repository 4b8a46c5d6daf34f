// Placeholder until the output stages land; replaced by their registration.
#include "stages/media/register.hpp"

namespace loom {

void register_output_stages(stage_registry&) {}

}  // namespace loom
