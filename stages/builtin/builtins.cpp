// The stage types every build has.
#include "stages/media/register.hpp"
#include "stages/model/register.hpp"
#include "stages/registry.hpp"

namespace loom {

stage_spec synthetic_source_spec();
stage_spec passthrough_spec();
stage_spec null_sink_spec();
stage_spec matmul_spec();
stage_spec concat_rows_spec();
stage_spec zmq_source_spec();
stage_spec zmq_sink_spec();
stage_spec shm_source_spec();
stage_spec shm_sink_spec();

void register_builtin_stages(stage_registry& registry) {
  registry.add(synthetic_source_spec());
  registry.add(passthrough_spec());
  registry.add(null_sink_spec());
  registry.add(matmul_spec());
  registry.add(concat_rows_spec());
  registry.add(zmq_source_spec());
  registry.add(zmq_sink_spec());
  registry.add(shm_source_spec());
  registry.add(shm_sink_spec());
  register_model_stages(registry);
  register_media_stages(registry);
}

}  // namespace loom
