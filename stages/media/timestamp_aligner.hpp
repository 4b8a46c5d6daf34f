// Joins several packet streams by media timestamp: each packet of the primary stream (stream
// 0) is grouped with the packets of every other stream whose timestamps lie within
// `tolerance_us` of its own. Pure logic on packets, no runtime: the `align` stage drives it.
//
// Each stream's timestamps must not decrease. A primary packet at time t is decided once every
// other stream has shown a packet later than t + tolerance (or has ended): only then is it known
// which packets fall in its window. Decisions are made in primary order.
#pragma once

#include <cstdint>
#include <deque>
#include <optional>
#include <vector>

#include "stages/packet.hpp"

namespace loom {

enum class align_mode {
  nearest,  // the one packet per stream nearest to the primary's time (ties: the earlier)
  window,   // every packet per stream within the tolerance
};

// What happens to a primary packet when some stream has nothing within its window.
enum class unmatched_policy {
  drop,  // discarded and counted
  pass,  // goes out with what did match; the streams without a match are empty
  wait,  // takes the first packet after its window from each stream that has none (a late
         // match); dropped if such a stream ends without one
};

struct aligner_options {
  std::size_t streams = 2;
  std::int64_t tolerance_us = 0;
  align_mode mode = align_mode::nearest;
  unmatched_policy unmatched = unmatched_policy::drop;
  // Packets held per stream at most. When a stream runs ahead of the others this far, its
  // oldest packet is given up (other streams: counted unused; primary: decided as if every
  // stream had moved on), so a stalled stream costs bounded memory and never a hang.
  std::size_t max_pending = 1024;
};

struct aligned_group {
  packet_ptr primary;
  // One entry per stream after the primary (streams 1..N-1): the packets matched to it, in
  // timestamp order; empty where nothing matched and the policy is `pass`.
  std::vector<std::vector<packet_ptr>> others;
  bool late = false;  // some stream's packet came after the window (policy `wait`)
};

struct aligner_counts {
  std::uint64_t groups = 0;             // emitted, every stream matched within the tolerance
  std::uint64_t late = 0;               // emitted with a match after the window (wait)
  std::uint64_t passed = 0;             // emitted with some stream missing (pass)
  std::uint64_t dropped = 0;            // primary packets discarded for want of a match
  std::uint64_t unused = 0;             // packets of other streams that joined no group
  std::uint64_t overflowed = 0;         // packets given up because max_pending was reached
};

class timestamp_aligner {
 public:
  explicit timestamp_aligner(aligner_options options);

  // Throws std::invalid_argument if `stream` is out of range, has ended, or the timestamp is
  // earlier than the stream's previous one.
  void push(std::size_t stream, packet_ptr p);
  // No more packets will come on `stream`.
  void end(std::size_t stream);
  void end_all();

  // The next decided group, in primary order; none while the next primary packet waits.
  std::optional<aligned_group> pop();

  const aligner_counts& counts() const { return counts_; }
  std::size_t pending(std::size_t stream) const { return queues_.at(stream).packets.size(); }
  const aligner_options& options() const { return options_; }

 private:
  struct held {
    packet_ptr packet;
    bool used = false;
  };
  struct queue {
    std::deque<held> packets;
    std::optional<std::int64_t> latest;  // timestamp of the last packet pushed
    bool ended = false;
  };

  bool decided(std::int64_t t) const;
  void discard_front(std::size_t stream);
  void trim();

  aligner_options options_;
  std::vector<queue> queues_;
  aligner_counts counts_;
};

}  // namespace loom
