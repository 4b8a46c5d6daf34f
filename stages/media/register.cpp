// The media stage types: sources that read files and streams, alignment, and sinks that write
// PNG, MP4 and JSON lines with provenance.
#include "stages/media/register.hpp"

namespace loom {

void register_media_stages(stage_registry& registry) {
  register_ingest_stages(registry);
  register_output_stages(registry);
}

}  // namespace loom
