// Puts a stage's input in its device's memory. On an edge with a planned transfer every tensor
// in another memory space is copied across (devices/transfer.hpp) into a new packet with the same
// identity; elsewhere a tensor in another space is a mistake of the stage that emitted it, and an
// error naming the stage, the port, the tensor and both memory spaces.
#pragma once

#include <cstdint>
#include <string_view>

#include "actors/device_set.hpp"
#include "stages/packet.hpp"

namespace loom {

struct input_route {
  std::string_view stage;
  std::string_view port;
  device& to;
  const device_set& devices;
  bool transfer_planned = false;
};

// The packet to hand the stage: `p` itself when every tensor is already there. Adds the bytes
// copied to `bytes_moved`.
packet_ptr move_to_device(packet_ptr p, const input_route& route, std::uint64_t& bytes_moved);

}  // namespace loom
