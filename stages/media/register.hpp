#pragma once

#include "stages/registry.hpp"

namespace loom {

void register_media_stages(stage_registry& registry);
// video_source, image_source, text_source (stages/media/*_source.cpp)
void register_ingest_stages(stage_registry& registry);
// align, image_sink, video_sink, jsonl_sink (stages/media/*_sink.cpp, align.cpp)
void register_output_stages(stage_registry& registry);

}  // namespace loom
