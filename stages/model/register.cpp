#include "stages/model/register.hpp"

#include "stages/registry.hpp"

namespace loom {

stage_spec tokenizer_spec();

void register_model_stages(stage_registry& registry) {
  registry.add(tokenizer_spec());
}

}  // namespace loom
