// Gathers one input set for a stage with several input ports: the packets at the heads of all
// ports with the same sequence number. A head older than the others can never be matched (its
// partner was dropped or filtered upstream); it is discarded and counted as unmatched.
#pragma once

#include <cstdint>
#include <vector>

#include "actors/input_port.hpp"

namespace loom {

struct input_set {
  std::vector<packet_ptr> packets;  // one per port
  std::uint64_t ticket = 0;         // of the first port's message
  // That message was the last its producer sent for the ticket: a stage forwarding a lane's
  // tickets marks its outputs of the ticket `last` only then (see input_port.hpp).
  bool last = true;
};

// Fills `set` and returns true when a whole set is ready; `unmatched` counts discarded packets.
bool take_aligned(std::vector<input_port>& ports, input_set& set, std::uint64_t& unmatched);

// For stages that take inputs as they arrive: the next packet from any port, trying ports in
// turn from `next_port` so that none starves. Sets `port` and returns true if one was there.
bool take_any(std::vector<input_port>& ports, std::size_t& next_port, input_set& set,
              std::size_t& port);

// Every port is exhausted: no set will ever be ready again.
bool all_exhausted(const std::vector<input_port>& ports);

}  // namespace loom
