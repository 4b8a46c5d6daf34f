// Copies an edge_channel's running totals into a stage's counters (stage_context::count adds,
// so only what grew since the last copy is added): they appear under the stage's `counters` in
// `--stats json`. Called from the stage's own thread after every call.
#pragma once

#include <string>
#include <string_view>

#include "connectors/edge_channel.hpp"
#include "stages/stage.hpp"

namespace loom::net_stages {

class wire_counters {
 public:
  // `direction` is "sent" or "received": wire_packets_sent, wire_bytes_received, ...
  explicit wire_counters(const std::string& direction)
      : packets_("wire_packets_" + direction), bytes_("wire_bytes_" + direction) {}

  void update(stage_context& ctx, const edge_counts& now) {
    add(ctx, packets_, now.packets, last_.packets);
    add(ctx, bytes_, now.bytes, last_.bytes);
    add(ctx, "refused_frames", now.refused_frames, last_.refused_frames);
    add(ctx, "credit_wait_ms", now.credit_wait_ns / 1000000, last_.credit_wait_ns / 1000000);
    add(ctx, "in_flight_peak", now.in_flight_peak, last_.in_flight_peak);
    add(ctx, "peers", now.peers, last_.peers);
    last_ = now;
    named_ = true;
  }

 private:
  // The first update names every counter, zeros included, so that a reader can tell "none" from
  // "absent"; later ones touch only the counters that grew — a counter is a map lookup, and
  // update runs after every call, on the path of every packet.
  void add(stage_context& ctx, std::string_view name, std::uint64_t now, std::uint64_t before) {
    if (now > before || !named_) ctx.count(name, 0, now - before);
  }

  // Named once, for the same reason.
  std::string packets_, bytes_;
  edge_counts last_;
  bool named_ = false;
};

}  // namespace loom::net_stages
