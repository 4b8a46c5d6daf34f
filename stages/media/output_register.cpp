// The output stage types: align (join streams by timestamp) and the sinks that write PNG, MP4
// and JSON lines with provenance.
#include "stages/media/register.hpp"

namespace loom {

stage_spec align_spec();
stage_spec image_sink_spec();
stage_spec video_sink_spec();
stage_spec jsonl_sink_spec();

void register_output_stages(stage_registry& registry) {
  registry.add(align_spec());
  registry.add(image_sink_spec());
  registry.add(video_sink_spec());
  registry.add(jsonl_sink_spec());
}

}  // namespace loom
