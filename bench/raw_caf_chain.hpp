// The peer of the hop benchmarks: source -> 3 relays -> sink written directly on CAF 0.17, with
// unbounded mailboxes and no flow control. Returns packets per second.
#pragma once

#include <cstddef>
#include <cstdint>

namespace loom::bench {

double raw_caf_chain(std::uint64_t packets, std::size_t payload_bytes);

}  // namespace loom::bench
