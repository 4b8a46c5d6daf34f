// One direction of an edge between two processes on one host, over a unix domain socket
// (SOCK_SEQPACKET). Large tensors are not copied: the sender passes the memfd segment its
// buffer lies in (devices/buffer.hpp, `shareable`) once per segment over SCM_RIGHTS, then only
// (segment, offset, size) descriptors; the receiver maps each segment once, read-only, and hands
// out views of it. Small tensors, and large ones whose memory is not shareable, are copied and
// counted as copied bytes.
//
//   auto [a, b] = shm_socket::pair();           // or shm_listener / shm_socket::connect
//   shm_sender out(std::move(a));                // producer process
//   shm_receiver in(std::move(b));               // consumer process
//   out.send(p);                                 // blocks until the receiver granted credit
//   out.finish();                                // the stream ended: nothing follows
//   std::optional<packet> q = in.receive();      // nothing: the stream ended
//
// End of stream is said, not inferred: a sender that goes away without `finish` — its process
// died, or its run was abandoned — fails the receiver's next `receive`, so that a stream cut
// short is never taken for a complete one.
//
// Ownership across the processes: the sender keeps a reference to every buffer it shared until
// the receiver says it dropped its last view of it (`release`), so the producer never reuses
// memory the consumer still reads. When the receiver goes away without saying so (its process
// died), the sender drops them all and keeps those segments out of its pool.
//
// Flow control: the receiver grants credits, one packet each, and returns them as `receive`
// hands packets out (in batches of a quarter of the window, and all before it waits). Without
// credit `send` waits, `send_for` gives up after its timeout and `try_send` returns at once: the
// caller picks blocking or "would block".
//
// Hostile input: every count and size the receiver reads is bounded (shm_channel_options), every
// descriptor is checked against its segment, and every passed file descriptor must be a memfd of
// the announced size sealed against shrinking (so no access can fault). A violation throws
// shm_channel_error naming what was wrong and stops the channel; nothing crashes.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "stages/packet.hpp"

namespace loom {

class shm_channel_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A connected SOCK_SEQPACKET unix socket, owned.
class shm_socket {
 public:
  shm_socket() = default;
  explicit shm_socket(int fd) : fd_(fd) {}
  shm_socket(shm_socket&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  shm_socket& operator=(shm_socket&& other) noexcept;
  shm_socket(const shm_socket&) = delete;
  shm_socket& operator=(const shm_socket&) = delete;
  ~shm_socket();

  // Two connected ends, for a process that forks its peer (and for tests).
  static std::pair<shm_socket, shm_socket> pair();
  // Connects to a shm_listener's path; throws shm_channel_error naming the path.
  static shm_socket connect(const std::string& path);

  int fd() const { return fd_; }
  int release() { return std::exchange(fd_, -1); }

 private:
  int fd_ = -1;
};

// A socket file other processes of the same user connect to; removed again when destroyed.
class shm_listener {
 public:
  explicit shm_listener(std::string path);
  ~shm_listener();
  shm_listener(const shm_listener&) = delete;
  shm_listener& operator=(const shm_listener&) = delete;

  // The next peer, or nothing after `timeout`. A peer running as another user is refused.
  std::optional<shm_socket> accept(std::chrono::milliseconds timeout);
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  int fd_ = -1;
};

// The receiver's limits; it announces them to the sender with its first credit, so the sender
// splits its packets to fit them. A sender's own options can only lower the inline sizes.
struct shm_channel_options {
  std::uint32_t credits = 8;                     // packets the sender may have in flight
  std::size_t max_tensors = 64;                  // per packet (at most 253: SCM_RIGHTS' limit)
  std::size_t max_metadata = 64;                 // key/value pairs per packet
  std::size_t max_header_bytes = 64 * 1024;      // encoded packet header
  std::size_t max_segments = 256;                // mapped at once by the receiver
  std::size_t inline_tensor_bytes = 64 * 1024;   // tensors up to this size are copied inline
  std::size_t inline_packet_bytes = 128 * 1024;  // inline bytes per packet; further ones are staged
};

struct shm_sender_stats {
  std::uint64_t packets = 0;
  std::uint64_t shared_bytes = 0;  // handed over by descriptor, not copied
  std::uint64_t copied_bytes = 0;  // inline, or staged into a fresh segment
  std::uint64_t segments_passed = 0;  // file descriptors passed: once per segment new to the peer
  std::size_t held_buffers = 0;    // shared and not yet released by the receiver
  std::size_t peer_segments = 0;   // segments the receiver has mapped
  std::uint32_t credits = 0;
  bool open = true;                // false once the receiver closed or went away
};

class shm_sender {
 public:
  explicit shm_sender(shm_socket socket, shm_channel_options options = {});
  ~shm_sender();
  shm_sender(shm_sender&&) noexcept;
  shm_sender& operator=(shm_sender&&) noexcept;

  // Sends `p`, waiting for credit (and, when the receiver maps its maximum of segments, for it to
  // release some). Throws shm_channel_error when the receiver has gone, and when `p` cannot be
  // sent at all (a tensor not in host memory, more tensors than the receiver accepts).
  void send(const packet& p);
  // As send, but gives up after `timeout`: false means nothing was sent.
  bool send_for(const packet& p, std::chrono::milliseconds timeout);
  // As send, but never waits: false means "would block".
  bool try_send(const packet& p);
  // Ends the stream: the receiver's `receive` returns nothing once it read everything before.
  // Later sends throw. Without it, closing the channel (destroying the sender) fails the receiver.
  void finish();
  // As finish, but gives up after `timeout` (a receiver that stopped reading): false means the
  // stream is not ended yet.
  bool finish_for(std::chrono::milliseconds timeout);

  shm_sender_stats stats() const;

 private:
  struct state;
  std::unique_ptr<state> state_;
};

class shm_receiver {
 public:
  // Grants the sender `options.credits` at once.
  explicit shm_receiver(shm_socket socket, shm_channel_options options = {});
  ~shm_receiver();
  shm_receiver(shm_receiver&&) noexcept;
  shm_receiver& operator=(shm_receiver&&) noexcept;

  // The next packet; nothing once the sender finished the stream. Shared tensors are read-only
  // views of the sender's pages (writing to them faults): packets are immutable. Throws
  // shm_channel_error on anything malformed or hostile, and when the sender went away without
  // finishing its stream; the channel is closed after either. Call
  // from one thread at a time; the views may be dropped from any thread.
  std::optional<packet> receive();
  // As receive, but nothing also when no packet came within `timeout` (see `closed`).
  std::optional<packet> receive_for(std::chrono::milliseconds timeout);

  bool closed() const;
  std::size_t mapped_segments() const;

 private:
  struct state;
  std::unique_ptr<state> state_;
};

// The wire format, exposed so that tests can play a hostile peer. Every message starts with a
// 32-bit kind. The packet header is encoded by one small function pair (encode_packet /
// decode_packet), so that it can be swapped for Cap'n Proto without touching the rest.
namespace shm_wire {

enum class kind : std::uint32_t {
  packet = 0x4c4d5031,  // sender -> receiver: header, then the inline bytes; fds attached
  forget = 0x4c4d5032,  // sender -> receiver: segments the receiver may unmap
  grant = 0x4c4d5033,   // receiver -> sender: credits and the receiver's limits
  release = 0x4c4d5034, // receiver -> sender: tokens of descriptors whose views are all gone
  closing = 0x4c4d5035, // receiver -> sender: it reads nothing more (views may still be held)
  finished = 0x4c4d5036, // sender -> receiver: the stream ended, nothing follows
};

struct tensor_entry {
  std::string name;
  std::uint32_t type = 0;  // dtype's value
  std::vector<std::int64_t> shape, strides;
  std::uint64_t size = 0;          // bytes of the view
  bool shared = false;             // else inline
  std::uint64_t inline_offset = 0; // inline: where its bytes start after the header
  std::uint64_t segment_id = 0;    // shared: which segment
  std::uint64_t segment_size = 0;  // shared: the segment's size, checked against the fd
  std::uint64_t offset = 0;        // shared: the view's offset in the segment
  std::uint64_t token = 0;         // shared: named by `release` when the views are gone
  bool carries_fd = false;         // shared: the segment's fd is attached (in entry order)
};

struct packet_header {
  std::uint64_t stream_id = 0, sequence = 0;
  std::int64_t timestamp_us = 0, created_ns = 0;
  std::vector<std::uint64_t> forget;  // applied before the tensors
  std::vector<tensor_entry> tensors;
  std::vector<std::pair<std::string, std::string>> metadata;
};

// Appends kind::packet, the header's length and the header to `out`.
void encode_packet(const packet_header& header, std::vector<std::byte>& out);
// The header of a kind::packet message and the bytes after it (the inline area). Throws
// shm_channel_error naming the field that is truncated or over its limit.
packet_header decode_packet(const std::byte* message, std::size_t size,
                            const shm_channel_options& limits, std::size_t& inline_start);

}  // namespace shm_wire

}  // namespace loom
