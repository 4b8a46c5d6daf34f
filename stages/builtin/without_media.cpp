// Builds configured with LOOM_WITH_MEDIA=OFF have no media stages.
#include "stages/media/register.hpp"

namespace loom {

void register_media_stages(stage_registry&) {}

}  // namespace loom
