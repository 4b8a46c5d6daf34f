// The parameters zmq_source and zmq_sink share, and the edge_channel options made of them.
#include "stages/net/edge_params.hpp"

#include <stdexcept>

#include <fmt/format.h>

namespace loom::net_stages {

std::vector<param_spec> shared_params() {
  return {
      string_param("endpoint", std::nullopt,
                   "where to bind or connect: tcp://*:7001, tcp://10.0.0.2:7001, ipc:///tmp/x"),
      boolean_param("bind", true,
                    "bind (peers connect here, several may) or connect to one binding peer"),
      string_param("server_key", "",
                   "when connecting under CURVE: the binding node's public key (Z85, the "
                   "`public` line of its NAME.pub)"),
      integer_param("edge", 0, "edge id carried in packet and credit frames; both ends agree",
                    0, 4294967295.0),
      integer_param("heartbeat_ms", 500, "send a heartbeat after this long without sending", 10,
                    600000),
      integer_param("silence_ms", 3000,
                    "a peer heard nothing from for this long is dead and the stage fails", 50,
                    3600000),
  };
}

edge_options edge_options_of(const stage_context& ctx) {
  const auto& p = ctx.params();
  edge_options o;
  o.endpoint = p.string("endpoint");
  if (o.endpoint.empty())
    throw std::invalid_argument("endpoint is empty; give it tcp://HOST:PORT or ipc:///PATH");
  o.bind = p.boolean("bind");
  o.server_key = p.string("server_key");
  o.edge = static_cast<std::uint32_t>(p.integer("edge"));
  o.heartbeat = std::chrono::milliseconds(p.integer("heartbeat_ms"));
  o.silence = std::chrono::milliseconds(p.integer("silence_ms"));
  if (o.silence <= o.heartbeat)
    throw std::invalid_argument(fmt::format(
        "silence_ms ({}) must be longer than heartbeat_ms ({}), or a live but idle peer is "
        "taken for dead; a few heartbeats' worth is usual",
        o.silence.count(), o.heartbeat.count()));
  o.log = [&ctx](const std::string& line) { ctx.log(line); };
  return o;
}

}  // namespace loom::net_stages
