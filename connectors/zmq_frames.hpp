// Moving wire_codec's frames over ZeroMQ without copying payloads, and the socket settings that
// RELIABILITY.md asks for. A sent frame is a zmq_msg_t built with zmq_msg_init_data over the
// buffer's memory; a heap copy of the buffer (one more reference, not more bytes) rides along as
// the free function's hint, so the memory stays alive until ZeroMQ has written it — even after
// every loom reference is gone — and is released from ZeroMQ's thread when it is done. A received
// frame stays in its zmq_msg_t, moved to the heap (one allocation with its reference count) and
// closed when the last buffer view of it goes.
// Internal to connectors/: it includes <zmq.h>.
#pragma once

#include <zmq.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string_view>
#include <vector>

#include "connectors/wire_codec.hpp"

namespace loom::wire {

// RELIABILITY.md's ZeroMQ 4.3 settings for loom's sockets, in one place; times in milliseconds.
struct socket_settings {
  // ZMQ_SNDHWM / ZMQ_RCVHWM: whole messages queued per peer. At the mark PUSH and DEALER block
  // (backpressure), PUB and ROUTER drop; loom's credits keep edges below it anyway, so reaching
  // it means a peer ignores credit.
  int send_high_water_mark = 256;
  int receive_high_water_mark = 256;
  // ZMQ_SNDTIMEO: a send that cannot queue gives up after this and says so (send_message returns
  // false) instead of blocking forever on a dead peer.
  int send_timeout_ms = 5000;
  // ZMQ_RCVTIMEO: a receive returns empty-handed after this, so the caller gets to check its
  // heartbeats and shutdown flag.
  int receive_timeout_ms = 1000;
  // ZMQ_IMMEDIATE on connecting sockets: queue only to peers whose connection is complete, so
  // messages are not parked for a peer that is not there.
  bool immediate = true;
  // ZMQ_MAXMSGSIZE: the largest frame a peer may send; over it, libzmq drops the connection
  // before buffering the frame. It limits each frame, not the multipart message, and only on
  // tcp:// and ipc:// (inproc frames are not decoded); the frame count and the message totals
  // are checked by receive_message and decode. -1: no limit.
  std::int64_t max_frame_bytes = static_cast<std::int64_t>(wire::max_frame_bytes(wire_limits{}));
  // ZMQ_HEARTBEAT_IVL / _TIMEOUT / _TTL: ZMTP pings every interval; a connection silent for the
  // timeout is closed; TTL asks the peer to close its side after that long without pings.
  int heartbeat_interval_ms = 1000;
  int heartbeat_timeout_ms = 5000;
  int heartbeat_ttl_ms = 10000;
  // ZMQ_LINGER: how long closing a socket may wait to flush; finite, or closing the context
  // would hang on a dead peer.
  int linger_ms = 1000;
  // ZMQ_ROUTER_MANDATORY, on ROUTER sockets only: a message to an unknown peer fails with
  // EHOSTUNREACH instead of being dropped silently.
  bool router_mandatory = true;
};

enum class socket_role { binds, connects };

// Applies `settings` to `socket`; `role` decides ZMQ_IMMEDIATE. Throws wire_error naming the
// option ZeroMQ refused.
void apply_settings(void* socket, const socket_settings& settings, socket_role role);

// Sends `message` as one multipart ZeroMQ message: header frame, then the payload frames, none
// copied. Returns false — and has sent nothing — when the socket cannot take it within its
// ZMQ_SNDTIMEO (or at once with `dont_wait`); throws wire_error on any other failure.
bool send_message(void* socket, const encoded_message& message, bool dont_wait = false);

// One received frame, closed when it goes away unless it was moved on (into a buffer, by
// complete_message). It lives where its owner puts it: a frame read only to be looked at costs
// no allocation.
class frame_message {
 public:
  frame_message() { zmq_msg_init(&message_); }
  frame_message(frame_message&& other) noexcept : frame_message() {
    zmq_msg_move(&message_, &other.message_);
  }
  frame_message& operator=(frame_message&& other) noexcept {
    if (this != &other) zmq_msg_move(&message_, &other.message_);  // closes what this one held
    return *this;
  }
  frame_message(const frame_message&) = delete;
  frame_message& operator=(const frame_message&) = delete;
  ~frame_message() { zmq_msg_close(&message_); }

  zmq_msg_t* get() { return &message_; }
  // The frame's bytes. A small frame keeps them inside the zmq_msg_t, so they move with it.
  std::byte* data() { return static_cast<std::byte*>(zmq_msg_data(&message_)); }
  std::size_t size() const { return zmq_msg_size(&message_); }
  bool more() const { return zmq_msg_more(&message_) != 0; }

 private:
  zmq_msg_t message_;
};

// One multipart message as received: frame 0, then the rest, each buffer owning its frame.
struct received_message {
  buffer header;
  std::vector<buffer> payloads;
};

// Receives one multipart message; nothing when none came within ZMQ_RCVTIMEO (or at once with
// `dont_wait`). A message with more than `limits.max_tensors + 1` frames is read to its end,
// each frame past the limit closed at once, and refused with a wire_error naming `peer` (ZeroMQ
// delivers multipart messages whole, so this bounds what loom holds, not what libzmq buffered).
// Pass the result to decode().
std::optional<received_message> receive_message(void* socket, std::string_view peer,
                                                const wire_limits& limits = {},
                                                bool dont_wait = false);

// The two halves of receive_message, for a caller that waits for the first frame differently
// (edge_channel waits for it without its lock, then reads the rest under it).
// One frame; nothing when none came within ZMQ_RCVTIMEO (at once with ZMQ_DONTWAIT in `flags`).
// Throws wire_error on a socket failure.
std::optional<frame_message> receive_frame(void* socket, int flags);
// The message whose frame 0 is `first`: reads its remaining frames, which ZeroMQ delivers
// together with the first, under receive_message's frame limit. Takes `first` over (by
// reference: each move of a frame is two calls into libzmq, and this is every packet's path).
received_message complete_message(void* socket, frame_message&& first, std::string_view peer,
                                  const wire_limits& limits = {});

}  // namespace loom::wire
