#include "connectors/control_channel.hpp"

#include <zmq.h>

#include <cerrno>
#include <vector>

#include <fmt/format.h>

#include "connectors/zmq_frames.hpp"

namespace loom::control {
namespace {

// Frames of one message: the ROUTER's routing id (if any), then one control frame.
constexpr int max_frames = 2;

bool send_bytes(void* socket, const void* data, std::size_t size, int flags) {
  return zmq_send(socket, data, size, flags) >= 0;
}

}  // namespace

void configure_control_socket(void* socket, bool binds) {
  wire::socket_settings settings;
  settings.max_frame_bytes = static_cast<std::int64_t>(max_control_bytes);
  settings.receive_timeout_ms = 0;  // receive() never waits: wait_readable does
  settings.send_timeout_ms = 1000;
  settings.linger_ms = 200;
  settings.immediate = false;  // a deploy queued before the connection is up is sent once it is
  wire::apply_settings(socket, settings,
                       binds ? wire::socket_role::binds : wire::socket_role::connects);
}

bool send(void* socket, const message& m, const std::string& routing_id) {
  auto frame = encode(m);
  if (!routing_id.empty() &&
      !send_bytes(socket, routing_id.data(), routing_id.size(), ZMQ_SNDMORE | ZMQ_DONTWAIT))
    return false;
  return send_bytes(socket, frame.data(), frame.size(), 0);
}

std::optional<envelope> receive(void* socket, bool routed, std::string_view peer,
                                std::string* routing_id_out) {
  std::vector<buffer> frames;
  std::size_t total = 0;  // frames beyond max_frames are counted, not kept
  int more = 1;
  while (more) {
    zmq_msg_t msg;
    zmq_msg_init(&msg);
    if (zmq_msg_recv(&msg, socket, frames.empty() ? ZMQ_DONTWAIT : 0) < 0) {
      zmq_msg_close(&msg);
      if (frames.empty() && errno == EAGAIN) return std::nullopt;
      throw wire::wire_error(fmt::format("control connection to {}: {}", peer, zmq_strerror(errno)));
    }
    more = zmq_msg_more(&msg);
    ++total;
    if (static_cast<int>(frames.size()) < max_frames) {
      auto b = buffer::allocate(zmq_msg_size(&msg));
      std::copy_n(static_cast<const std::byte*>(zmq_msg_data(&msg)), b.size(), b.data());
      frames.push_back(std::move(b));
    }
    zmq_msg_close(&msg);
  }
  envelope out;
  std::size_t first = 0;
  if (routed) {
    if (frames.size() < 2) throw wire::wire_error(fmt::format("control message from {}: a routing id and no message", peer));
    out.routing_id.assign(reinterpret_cast<const char*>(frames[0].data()), frames[0].size());
    if (routing_id_out != nullptr) *routing_id_out = out.routing_id;
    first = 1;
  }
  if (total != first + 1)
    throw wire::wire_error(fmt::format(
        "control message from {}: {} frames where one was expected; is the peer a loom node?",
        peer, total - first));
  out.body = decode(frames[first], peer);
  return out;
}

void wait_readable(void* const* sockets, std::size_t count, int timeout_ms) {
  std::vector<zmq_pollitem_t> items(count);
  for (std::size_t i = 0; i < count; ++i) items[i] = {sockets[i], 0, ZMQ_POLLIN, 0};
  zmq_poll(items.data(), static_cast<int>(count), timeout_ms);
}

}  // namespace loom::control
