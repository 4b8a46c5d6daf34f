// One end of a graph edge that crosses processes: the conversation of docs/connectors.md ("Data
// plane") over one ZeroMQ socket — hellos, credits, packets, heartbeats, byes and errors. The
// stage's calls use the socket themselves when they can (a packet goes out inside push(), credit
// inside take()); a thread of the channel's own reads what arrives meanwhile, a batch per
// wake-up, and keeps the timers, so that heartbeats go out and dead peers are noticed whatever
// the stage is doing. zmq_source holds a `receives_data` channel, zmq_sink a `sends_data` one:
//
//   edge_channel in(edge_role::receives_data, options, shared_process_network());
//   for (auto& p : in.take(50ms)) ctx.emit("out", p);  // every packet queued; each owes a credit
//
//   edge_channel out(edge_role::sends_data, options, shared_process_network());
//   while (!out.push(packet, 50ms)) {}                  // waits for a receiver with credit
//   while (!out.drained(50ms)) {}  out.leave("end of stream", 1s);
//
// A binding channel (ROUTER) serves any number of peers and refuses, counts and forgets those that
// break the protocol; a connecting one (DEALER) has one peer and fails with it. Memory is bounded:
// a receiver holds at most `capacity` packets per sender (a packet beyond the sender's credit is
// refused), a sender holds none (push() sends its packet or returns false), and at most
// `max_peers` peers are kept.
//
// Calls other than the constructor and destructor come from one thread (the stage's); they throw
// the channel's failure (a dead or refusing peer), whose message names the endpoint. Public
// header: no ZeroMQ types.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "connectors/network.hpp"
#include "connectors/wire_codec.hpp"
#include "stages/packet.hpp"

namespace loom {

enum class edge_role { sends_data, receives_data };

// Messages (log lines, failures) name the endpoint and the peer; the stage that holds the channel
// names itself when it passes them on, as the runtime does for every stage's lines.
struct edge_options {
  std::string endpoint;     // tcp://*:7001, tcp://10.0.0.2:7001, ipc:///tmp/x
  bool bind = true;         // ROUTER that peers connect to, or DEALER that connects
  std::string server_key;   // connecting under CURVE: the binding peer's public key (Z85)
  std::uint32_t edge = 0;   // edge id in packet and credit frames
  std::uint32_t capacity = 16;  // receives_data: credits granted to each sender
  std::chrono::milliseconds heartbeat{500};
  std::chrono::milliseconds silence{3000};
  std::size_t max_peers = 256;
  wire::wire_limits limits;
  // One line per event worth a person's attention (peer connected, refused, left); called from
  // the channel's thread. Lines start with security_banner().
  std::function<void(const std::string&)> log;
};

// Running totals; read from any thread.
struct edge_counts {
  std::uint64_t packets = 0;         // packets over the wire (sent or received)
  std::uint64_t bytes = 0;           // their payload bytes
  std::uint64_t refused_frames = 0;  // frames refused: malformed, over a limit, against protocol
  std::uint64_t credit_wait_ns = 0;  // sends_data: time push() waited for credit
  std::uint64_t in_flight_peak = 0;  // most packets sent and not yet credited back (sender: all
                                     // receivers; receiver: per sender)
  std::uint64_t peers = 0;           // peers that completed the hello
};

class edge_channel {
 public:
  // Binds or connects at once (throws naming the endpoint when that fails) and starts talking.
  edge_channel(edge_role role, edge_options options, std::shared_ptr<network> net);
  // Stops the thread and closes the socket without a bye: peers see silence.
  ~edge_channel();
  edge_channel(const edge_channel&) = delete;
  edge_channel& operator=(const edge_channel&) = delete;

  // receives_data: the packets that came in, in arrival order (each sender's in its order):
  // every one queued, or else the first to come within `wait` with any queued behind it; empty
  // when none came. Waits inside ZeroMQ, as a blocking reader does, and sends heartbeats and
  // lingering credit meanwhile. Their senders are credited for them (in batches of half the
  // capacity, or when nothing is left queued).
  std::vector<packet_ptr> take(std::chrono::milliseconds wait);
  // receives_data: senders that ended with bye, and whether packets are still queued.
  std::size_t byes() const;
  bool queue_empty() const;

  // sends_data: sends `p` (host memory; throws wire_error otherwise or over the limits) to a
  // receiver with credit, waiting up to `wait` for one; false (and nothing sent) when none had
  // credit within `wait`.
  bool push(const packet& p, std::chrono::milliseconds wait);
  // sends_data: everything pushed went out and every receiver credited it back (a connecting
  // channel also waits for its hello to be answered); false while not within `wait`.
  bool drained(std::chrono::milliseconds wait);

  // Sends bye{reason} to every peer and returns once each bye was handed to ZeroMQ and the peers
  // had a short grace to finish what they were sending (read and dropped: closing a TCP socket
  // with unread input resets the connection, and a reset loses the bye at the peer); at most
  // `wait` in all (0: one try, no grace). Later frames are read and dropped, timers stop.
  void leave(const std::string& reason, std::chrono::milliseconds wait);

  // Throws the failure, if the channel failed.
  void check() const;
  edge_counts counts() const;
  const std::string& endpoint() const;

  struct impl;

 private:
  std::unique_ptr<impl> impl_;
};

}  // namespace loom
