// The wire codec: turns what loom nodes say to each other (connectors/wire.capnp) into frames and
// back. A packet becomes a Cap'n Proto header frame plus one payload frame per tensor; the payload
// frames are the tensors' own memory on the way out, and the received frames' memory on the way in
// (tensors adopt the frame buffers), so a payload is never copied — except when a received frame is
// not aligned to its element size, or a sent tensor is not dense (both counted in `bytes_copied`).
// Everything read from a peer is checked against `wire_limits` before anything is allocated for
// it. Transport-neutral: zmq_frames.hpp moves the frames over ZeroMQ.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "devices/buffer.hpp"
#include "stages/packet.hpp"

namespace loom::wire {

// Raised when the wire protocol changes incompatibly (see wire.capnp); peers must agree on it.
inline constexpr std::uint32_t wire_protocol_version = 1;

// A frame that breaks the wire format or a limit, or a packet that cannot be sent. The message
// names the peer, the frame index (0: header, 1..n: payloads) and how to fix it.
class wire_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// What a receiver accepts from a peer; a sender checks the same limits so that it fails at home,
// with a clearer message, instead of being refused. Defaults fit a 4K RGB f32 frame or a batch of
// embeddings with room to spare while keeping one hostile message to a few GiB at worst.
struct wire_limits {
  std::size_t max_header_bytes = 1 << 20;   // header frame (Cap'n Proto message), 1 MiB
  std::size_t max_segments = 16;            // Cap'n Proto segments in a header
  int max_nesting = 8;                      // Cap'n Proto pointer depth (the schema needs 5)
  std::size_t max_tensors = 64;             // per packet = payload frames per message
  std::size_t max_rank = 8;                 // dimensions per tensor (loom's own maximum is 8)
  std::uint64_t max_tensor_elements = std::uint64_t{1} << 30;
  std::uint64_t max_tensor_bytes = std::uint64_t{1} << 30;             // 1 GiB
  std::uint64_t max_message_elements = std::uint64_t{1} << 31;
  std::uint64_t max_message_bytes = std::uint64_t{2} << 30;            // all payloads, 2 GiB
  std::size_t max_metadata_entries = 64;
  std::size_t max_string_bytes = 4096;  // any text: names, metadata keys and values, messages
};

// The largest single frame these limits allow; what ZMQ_MAXMSGSIZE should be set to.
std::uint64_t max_frame_bytes(const wire_limits& limits);

// Frames other than packets; fields as documented in wire.capnp.
struct hello {
  std::string loom_version;
  std::uint32_t protocol_version = wire_protocol_version;
  std::string graph_hash;
  std::string node_name;
  std::string boot_id;  // the host's boot id; packets keep created_ns only between equal ones
};
struct credit {
  std::uint32_t edge_id = 0;
  std::uint32_t count = 0;
};
struct heartbeat {
  std::int64_t sent_ns = 0;
};
struct bye {
  std::string reason;
};
struct peer_error {
  std::string message;
};

// A packet as it arrived: the edge it travels on and the packet, whose tensors share the memory of
// the payload frames (`bytes_copied` says how much had to be copied to realign; usually 0).
struct packet_frame {
  std::uint32_t edge_id = 0;
  packet value;
  std::size_t bytes_copied = 0;
};

using frame = std::variant<hello, packet_frame, credit, heartbeat, bye, peer_error>;

// A message ready to send: the header frame, then one payload frame per tensor in order. Payloads
// share the tensors' memory; `bytes_copied` counts the bytes of non-dense tensors that had to be
// gathered into fresh memory first.
struct encoded_message {
  buffer header;
  std::vector<buffer> payloads;
  std::size_t bytes_copied = 0;
};

// `p` on edge `edge_id`. Tensors must be in host memory (memory space "cpu": move others with
// devices/transfer.hpp first); throws wire_error when `p` breaks `limits`.
encoded_message encode_packet(const packet& p, std::uint32_t edge_id,
                              const wire_limits& limits = {});

// A frame that travels alone (no payloads); throws wire_error for text longer than the limits.
encoded_message encode_frame(const hello& h, const wire_limits& limits = {});
encoded_message encode_frame(const credit& c);
encoded_message encode_frame(const heartbeat& h);
encoded_message encode_frame(const bye& b, const wire_limits& limits = {});
encoded_message encode_frame(const peer_error& e, const wire_limits& limits = {});

// Decodes a received message. `header` is frame 0, `payloads` the frames after it, each a buffer
// owning the frame's memory (zmq_frames adopts ZeroMQ's); `peer` names the sender in errors
// (an endpoint such as "tcp://10.0.0.7:5555"). Throws wire_error — and only wire_error — for
// anything malformed or over `limits`, never crashes and never allocates past the limits.
frame decode(const buffer& header, std::span<const buffer> payloads, std::string_view peer,
             const wire_limits& limits = {});

// Why two nodes must not talk, or nothing when they may: the wire protocol versions differ, or
// the graph hashes do. `ours` is this node's hello, `theirs` the peer's; the message names both
// and says how to fix it.
std::optional<std::string> refuse_reason(const hello& ours, const hello& theirs);

}  // namespace loom::wire
