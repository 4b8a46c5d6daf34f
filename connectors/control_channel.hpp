// Sending and receiving control messages (control_codec.hpp) on a ZeroMQ socket: a DEALER at the
// coordinator, one per node, and a ROUTER at each node, whose messages carry the peer's routing
// id first. Internal to connectors/.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "connectors/control_codec.hpp"

namespace loom::control {

// Settings of every control socket: heartbeats of its own (deployment.hpp) sit on top of these.
void configure_control_socket(void* socket, bool binds);

// False when the message could not be queued (the peer is gone, or the send timed out).
bool send(void* socket, const message& m, const std::string& routing_id = {});

struct envelope {
  std::string routing_id;  // ROUTER sockets: who sent it
  message body;
};

// The next message, without waiting; none when there is none. A message that is not a control
// message throws wire::wire_error (after it was taken off the socket, with its routing id in
// `routing_id_out`), so one bad peer does not block the socket.
std::optional<envelope> receive(void* socket, bool routed, std::string_view peer,
                                std::string* routing_id_out = nullptr);

// Waits up to `timeout_ms` for any of `sockets` to have a message.
void wait_readable(void* const* sockets, std::size_t count, int timeout_ms);

}  // namespace loom::control
