// The planner's arithmetic: how long a stage's call takes on a device and how long moving a
// packet between two devices takes, from what the stage type estimates (stage_spec::estimate)
// and what the devices declare (device_caps). Estimates, not measurements: `loom plan` prints
// them beside the placement they led to, and the stats of a run show what really happened.
#pragma once

#include <cstddef>

#include "devices/device.hpp"
#include "stages/stage.hpp"

namespace loom {

// Bytes of a port's main tensor when its dtype and shape are known before the run, else 0.
std::size_t packet_bytes(const port_type& port);

// Seconds one call of a stage with this cost takes on a device; reduced-precision inputs run
// at the device's reduced-precision rate where it has one.
double compute_seconds(const stage_cost& cost, const port_type& main_input, const device_caps& on);

// Seconds to move `bytes` from one device's memory into another's: nothing within one memory
// space, one copy across a peer link or between host and device, two copies staged through host
// memory otherwise.
double transfer_seconds(std::size_t bytes, const device_caps& from, const device_caps& to);

// How a transfer between the two goes, in words: "peer copy", "host to device", "staged
// through host memory"...
const char* transfer_route(const device_caps& from, const device_caps& to);

}  // namespace loom
