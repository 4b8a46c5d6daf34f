// The model stage types: tokenizer, encoders, the MoE backbone, the diffusion decoders.
#pragma once

namespace loom {

class stage_registry;
void register_model_stages(stage_registry& registry);

}  // namespace loom
