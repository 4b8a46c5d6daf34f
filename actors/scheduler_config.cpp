#include "actors/scheduler_config.hpp"

namespace loom {

caf::actor_system_config& tune_scheduler(caf::actor_system_config& config) {
  return config.set("work-stealing.moderate-poll-attempts", std::size_t{20});
}

}  // namespace loom
