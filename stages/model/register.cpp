#include "stages/model/register.hpp"

#include "stages/model/moe/moe_stages.hpp"
#include "stages/registry.hpp"

namespace loom {

stage_spec tokenizer_spec();
stage_spec diffusion_decoder_spec();
stage_spec video_decoder_spec();
stage_spec text_encoder_spec();
stage_spec image_encoder_spec();
stage_spec video_encoder_spec();

void register_model_stages(stage_registry& registry) {
  registry.add(tokenizer_spec());
  registry.add(diffusion_decoder_spec());
  registry.add(video_decoder_spec());
  registry.add(text_encoder_spec());
  registry.add(image_encoder_spec());
  registry.add(video_encoder_spec());
  registry.add(moe_spec());
}

}  // namespace loom
