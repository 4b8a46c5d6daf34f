// The parameters zmq_source and zmq_sink share (docs/stages.md) and the edge_channel options
// they make of them, so both ends of an edge read the same keys the same way.
#pragma once

#include <vector>

#include "connectors/edge_channel.hpp"
#include "stages/stage.hpp"

namespace loom::net_stages {

// endpoint, bind, server_key, edge, heartbeat_ms, silence_ms.
std::vector<param_spec> shared_params();

// The channel's options for the stage of `ctx`; log lines go to ctx.log.
edge_options edge_options_of(const stage_context& ctx);

}  // namespace loom::net_stages
