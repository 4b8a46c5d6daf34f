#include "stages/media/timestamp_aligner.hpp"

#include <cstdlib>
#include <limits>
#include <stdexcept>

#include <fmt/format.h>

namespace loom {

timestamp_aligner::timestamp_aligner(aligner_options options)
    : options_(options), queues_(options.streams) {
  if (options_.streams < 2) throw std::invalid_argument("aligning needs at least two streams");
  if (options_.tolerance_us < 0) throw std::invalid_argument("the tolerance cannot be negative");
  if (options_.max_pending < 1) throw std::invalid_argument("max_pending must be at least 1");
}

void timestamp_aligner::push(std::size_t stream, packet_ptr p) {
  if (stream >= queues_.size())
    throw std::invalid_argument(fmt::format("stream {} out of range (there are {})", stream, queues_.size()));
  auto& q = queues_[stream];
  if (q.ended) throw std::invalid_argument(fmt::format("stream {} has already ended", stream));
  if (q.latest && p->timestamp_us < *q.latest)
    throw std::invalid_argument(fmt::format(
        "timestamps must not decrease within a stream: {} µs after {} µs (sequence {})",
        p->timestamp_us, *q.latest, p->sequence));
  q.latest = p->timestamp_us;
  q.packets.push_back({std::move(p)});
  if (stream != 0 && q.packets.size() > options_.max_pending) {
    ++counts_.overflowed;
    discard_front(stream);
  }
}

void timestamp_aligner::end(std::size_t stream) { queues_.at(stream).ended = true; }

void timestamp_aligner::end_all() {
  for (auto& q : queues_) q.ended = true;
}

bool timestamp_aligner::decided(std::int64_t t) const {
  for (std::size_t s = 1; s < queues_.size(); ++s) {
    const auto& q = queues_[s];
    if (!q.ended && !(q.latest && *q.latest > t + options_.tolerance_us)) return false;
  }
  return true;
}

void timestamp_aligner::discard_front(std::size_t stream) {
  auto& q = queues_[stream];
  if (stream != 0 && !q.packets.front().used) ++counts_.unused;
  q.packets.pop_front();
}

// Gives up the packets of other streams that no primary packet still to come can take: those
// before the earliest window, and in nearest mode those with a later packet no later than it.
void timestamp_aligner::trim() {
  const auto& primary = queues_[0];
  constexpr auto lowest = std::numeric_limits<std::int64_t>::min();
  constexpr auto highest = std::numeric_limits<std::int64_t>::max();
  std::int64_t earliest = !primary.packets.empty() ? primary.packets.front().packet->timestamp_us
                          : primary.ended          ? highest
                          : primary.latest         ? *primary.latest
                                                   : lowest;
  for (std::size_t s = 1; s < queues_.size(); ++s) {
    auto& q = queues_[s].packets;
    while (!q.empty()) {
      auto front = q.front().packet->timestamp_us;
      bool before_window = earliest == highest || (earliest != lowest && front < earliest - options_.tolerance_us);
      bool outrun = options_.mode == align_mode::nearest && q.size() > 1 &&
                    q[1].packet->timestamp_us > front && q[1].packet->timestamp_us <= earliest;
      if (!before_window && !outrun) break;
      discard_front(s);
    }
  }
}

std::optional<aligned_group> timestamp_aligner::pop() {
  auto& primary = queues_[0].packets;
  while (true) {
    trim();
    if (primary.empty()) return std::nullopt;
    auto t = primary.front().packet->timestamp_us;
    bool forced = primary.size() > options_.max_pending;
    if (!forced && !decided(t)) return std::nullopt;
    if (forced) ++counts_.overflowed;

    aligned_group group;
    group.primary = primary.front().packet;
    group.others.resize(queues_.size() - 1);
    std::vector<std::vector<held*>> chosen(queues_.size() - 1);
    bool missing = false;
    for (std::size_t s = 1; s < queues_.size(); ++s) {
      auto& picks = chosen[s - 1];
      for (auto& h : queues_[s].packets) {
        auto ts = h.packet->timestamp_us;
        if (ts < t - options_.tolerance_us) continue;
        if (ts > t + options_.tolerance_us) break;
        if (options_.mode == align_mode::window) {
          picks.push_back(&h);
        } else if (picks.empty() || std::abs(ts - t) < std::abs(picks[0]->packet->timestamp_us - t)) {
          picks.assign(1, &h);
        }
      }
      missing = missing || picks.empty();
    }

    if (missing) {
      if (options_.unmatched == unmatched_policy::drop) {
        ++counts_.dropped;
        primary.pop_front();
        continue;
      }
      if (options_.unmatched == unmatched_policy::wait) {
        bool served = true;
        for (std::size_t s = 1; s < queues_.size() && served; ++s) {
          auto& picks = chosen[s - 1];
          if (!picks.empty()) continue;
          for (auto& h : queues_[s].packets)
            if (h.packet->timestamp_us > t + options_.tolerance_us) {
              picks.push_back(&h);
              break;
            }
          served = !picks.empty();
        }
        if (!served) {
          ++counts_.dropped;
          primary.pop_front();
          continue;
        }
        group.late = true;
        ++counts_.late;
      } else {
        ++counts_.passed;
      }
    } else {
      ++counts_.groups;
    }
    for (std::size_t s = 0; s < chosen.size(); ++s)
      for (auto* h : chosen[s]) {
        h->used = true;
        group.others[s].push_back(h->packet);
      }
    primary.pop_front();
    return group;
  }
}

}  // namespace loom
