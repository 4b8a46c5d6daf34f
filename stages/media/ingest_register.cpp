// The ingest stage types: video_source, image_source, text_source.
#include "stages/media/register.hpp"

namespace loom {

stage_spec video_source_spec();
stage_spec image_source_spec();
stage_spec text_source_spec();

void register_ingest_stages(stage_registry& registry) {
  registry.add(video_source_spec());
  registry.add(image_source_spec());
  registry.add(text_source_spec());
}

}  // namespace loom
