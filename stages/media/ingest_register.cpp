// Placeholder until the ingest stages land; replaced by their registration.
#include "stages/media/register.hpp"

namespace loom {

void register_ingest_stages(stage_registry&) {}

}  // namespace loom
