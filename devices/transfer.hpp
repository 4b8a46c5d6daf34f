// Moving a tensor from one device's memory into another's. Where the destination has peer
// access to the source, one direct copy; otherwise the bytes are staged through host memory
// (each device's page-locked staging where it has one). The runtime calls this on every edge that
// graphs/ planned a transfer for and counts the bytes in the edge's `bytes_transferred`.
#pragma once

#include "devices/device.hpp"

namespace loom {

// A dense copy of `t` in `to`'s memory space (same dtype and shape), complete when it returns.
// `t` must live in `from`'s memory space; same space: `t` itself, no copy.
tensor transfer(const tensor& t, device& from, device& to);

}  // namespace loom
