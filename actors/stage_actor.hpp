// The actor that runs one replica of one stage: it owns the stage instance, its input ports
// and the senders of its output links, and calls the stage only when every link it would
// block on has credit, so a full channel holds back its producer instead of growing memory.
#pragma once

#include <caf/all.hpp>

namespace loom {

caf::actor spawn_stage_actor(caf::actor_system& system, bool detached);

}  // namespace loom
