#include "actors/input_aligner.hpp"

#include <algorithm>

namespace loom {

bool take_aligned(std::vector<input_port>& ports, input_set& set, std::uint64_t& unmatched) {
  set.packets.resize(ports.size());
  if (ports.size() == 1) {  // the common case, without the bookkeeping of alignment
    if (ports[0].peek() == nullptr) return false;
    auto message = ports[0].pop();
    set.ticket = message.ticket;
    set.last = message.last;
    set.packets[0] = std::move(message.packet);
    return true;
  }
  std::vector<const link_message*> heads(ports.size());
  for (;;) {
    bool waiting = false, dead = false;
    for (std::size_t i = 0; i < ports.size(); ++i) {
      heads[i] = ports[i].peek();
      if (heads[i] == nullptr) (ports[i].exhausted() ? dead : waiting) = true;
    }
    if (dead) {
      // A port has ended: whatever waits on the others can never be completed.
      bool discarded = false;
      for (std::size_t i = 0; i < ports.size(); ++i)
        if (heads[i] != nullptr) {
          ports[i].pop();
          ++unmatched;
          discarded = true;
        }
      if (discarded) continue;
      return false;
    }
    if (waiting) return false;
    std::uint64_t newest = 0;
    for (auto* h : heads) newest = std::max(newest, h->packet->sequence);
    bool aligned = std::all_of(heads.begin(), heads.end(),
                               [&](const link_message* h) { return h->packet->sequence == newest; });
    if (aligned) {
      set.ticket = heads.front()->ticket;
      set.last = heads.front()->last;
      for (std::size_t i = 0; i < ports.size(); ++i) set.packets[i] = ports[i].pop().packet;
      return true;
    }
    for (std::size_t i = 0; i < ports.size(); ++i)
      if (heads[i]->packet->sequence < newest) {
        ports[i].pop();
        ++unmatched;
      }
  }
}

bool take_any(std::vector<input_port>& ports, std::size_t& next_port, input_set& set,
              std::size_t& port) {
  for (std::size_t tried = 0; tried < ports.size(); ++tried) {
    std::size_t i = (next_port + tried) % ports.size();
    if (ports[i].peek() == nullptr) continue;
    auto message = ports[i].pop();
    set.packets.assign(1, std::move(message.packet));
    set.ticket = message.ticket;
    set.last = message.last;
    port = i;
    next_port = (i + 1) % ports.size();
    return true;
  }
  return false;
}

bool all_exhausted(const std::vector<input_port>& ports) {
  return std::all_of(ports.begin(), ports.end(), [](const input_port& p) { return p.exhausted(); });
}

}  // namespace loom
