// ZeroMQ framing for the wire codec (see zmq_frames.hpp): zero-copy sends through
// zmq_msg_init_data, zero-copy receives through buffer::adopt, and the socket settings.
#include "connectors/zmq_frames.hpp"

#include <cerrno>
#include <memory>

#include <fmt/format.h>

namespace loom::wire {
namespace {

[[noreturn]] void zmq_failure(std::string_view what) {
  throw wire_error(fmt::format("wire: {}: {}", what, zmq_strerror(zmq_errno())));
}

template <class Value>
void set_option(void* socket, int option, const char* name, Value value) {
  if (zmq_setsockopt(socket, option, &value, sizeof value) != 0)
    zmq_failure(fmt::format("ZeroMQ refused {} = {}", name, value));
}

// ZeroMQ's free function for sent frames: drops the reference the frame held.
void release_buffer(void*, void* hint) { delete static_cast<buffer*>(hint); }

// Sends one frame; false when it could not be queued in time (EAGAIN).
bool send_frame(void* socket, const buffer& frame, int flags, std::size_t index) {
  auto* reference = new buffer(frame);
  zmq_msg_t message;
  if (zmq_msg_init_data(&message, reference->data(), reference->size(), release_buffer,
                        reference) != 0) {
    delete reference;
    zmq_failure(fmt::format("cannot wrap frame {} ({} bytes)", index, frame.size()));
  }
  for (;;) {
    if (zmq_msg_send(&message, socket, flags) >= 0) return true;
    const int error = zmq_errno();
    if (error == EINTR) continue;
    zmq_msg_close(&message);  // runs release_buffer: ZeroMQ did not take the frame
    if (error == EAGAIN) return false;
    errno = error;
    zmq_failure(fmt::format("cannot send frame {} ({} bytes)", index, frame.size()));
  }
}

// The frame's memory as a buffer; closing the frame is the buffer's release.
buffer adopt_frame(frame_message&& frame) {
  auto owned = std::make_shared<frame_message>(std::move(frame));
  auto* data = owned->data();  // after the move: a small frame's bytes moved with it
  const auto size = owned->size();
  return buffer::adopt(std::move(owned), data, size);
}

}  // namespace

void apply_settings(void* socket, const socket_settings& settings, socket_role role) {
  set_option(socket, ZMQ_SNDHWM, "ZMQ_SNDHWM", settings.send_high_water_mark);
  set_option(socket, ZMQ_RCVHWM, "ZMQ_RCVHWM", settings.receive_high_water_mark);
  set_option(socket, ZMQ_SNDTIMEO, "ZMQ_SNDTIMEO", settings.send_timeout_ms);
  set_option(socket, ZMQ_RCVTIMEO, "ZMQ_RCVTIMEO", settings.receive_timeout_ms);
  if (role == socket_role::connects)
    set_option(socket, ZMQ_IMMEDIATE, "ZMQ_IMMEDIATE", settings.immediate ? 1 : 0);
  set_option(socket, ZMQ_MAXMSGSIZE, "ZMQ_MAXMSGSIZE", settings.max_frame_bytes);
  set_option(socket, ZMQ_HEARTBEAT_IVL, "ZMQ_HEARTBEAT_IVL", settings.heartbeat_interval_ms);
  set_option(socket, ZMQ_HEARTBEAT_TIMEOUT, "ZMQ_HEARTBEAT_TIMEOUT",
             settings.heartbeat_timeout_ms);
  set_option(socket, ZMQ_HEARTBEAT_TTL, "ZMQ_HEARTBEAT_TTL", settings.heartbeat_ttl_ms);
  if (settings.linger_ms < 0)
    throw wire_error("wire: socket_settings::linger_ms is negative (wait forever): closing a "
                     "socket to a dead peer would hang; give it a finite time");
  set_option(socket, ZMQ_LINGER, "ZMQ_LINGER", settings.linger_ms);
  int type = 0;
  std::size_t type_size = sizeof type;
  if (zmq_getsockopt(socket, ZMQ_TYPE, &type, &type_size) != 0)
    zmq_failure("cannot read the socket type");
  if (type == ZMQ_ROUTER)
    set_option(socket, ZMQ_ROUTER_MANDATORY, "ZMQ_ROUTER_MANDATORY",
               settings.router_mandatory ? 1 : 0);
}

bool send_message(void* socket, const encoded_message& message, bool dont_wait) {
  const int wait = dont_wait ? ZMQ_DONTWAIT : 0;
  const bool more = !message.payloads.empty();
  // Only the first frame can meet the high-water mark (ZeroMQ counts whole messages): once it
  // is queued, the rest of the message follows it.
  if (!send_frame(socket, message.header, wait | (more ? ZMQ_SNDMORE : 0), 0)) return false;
  for (std::size_t i = 0; i < message.payloads.size(); ++i) {
    const bool last = i + 1 == message.payloads.size();
    if (!send_frame(socket, message.payloads[i], last ? 0 : ZMQ_SNDMORE, i + 1))
      throw wire_error(fmt::format(
          "wire: frame {} could not be queued after the frames before it; the message is torn "
          "and the socket must be closed",
          i + 1));
  }
  return true;
}

std::optional<frame_message> receive_frame(void* socket, int flags) {
  std::optional<frame_message> frame(std::in_place);
  for (;;) {
    if (zmq_msg_recv(frame->get(), socket, flags) >= 0) return frame;
    const int error = zmq_errno();
    if (error == EINTR) continue;
    if (error == EAGAIN) return std::nullopt;
    errno = error;
    zmq_failure("cannot receive");
  }
}

std::optional<received_message> receive_message(void* socket, std::string_view peer,
                                                const wire_limits& limits, bool dont_wait) {
  auto first = receive_frame(socket, dont_wait ? ZMQ_DONTWAIT : 0);
  if (!first) return std::nullopt;
  return complete_message(socket, std::move(*first), peer, limits);
}

received_message complete_message(void* socket, frame_message&& first, std::string_view peer,
                                  const wire_limits& limits) {
  bool more = first.more();
  received_message out;
  out.header = adopt_frame(std::move(first));
  std::size_t frames = 1;
  while (more) {
    auto next = receive_frame(socket, 0);
    if (!next)
      throw wire_error(fmt::format("wire: message from {} ended after {} frames without its "
                                   "last frame",
                                   peer, frames));
    more = next->more();
    ++frames;
    // A frame past the limit is closed as `next` goes.
    if (out.payloads.size() < limits.max_tensors)
      out.payloads.push_back(adopt_frame(std::move(*next)));
  }
  if (frames > limits.max_tensors + 1)
    throw wire_error(fmt::format(
        "wire: message from {} has {} frames, over the limit of {} (a header and at most {} "
        "payloads); make the packet smaller at the sender, or raise wire_limits::max_tensors on "
        "this node",
        peer, frames, limits.max_tensors + 1, limits.max_tensors));
  return out;
}

}  // namespace loom::wire
