// The CAF scheduler settings a run uses.
#pragma once

#include <caf/actor_system_config.hpp>

namespace loom {

// CAF's work-stealing workers poll for work for a while before they sleep on a condition
// variable: 100 tries in a tight loop, then 500 tries 50 µs apart (25 ms). While a pinned stage
// computes for tens of milliseconds the idle workers keep waking on its core every 50 µs and
// preempt it: two pinned MoE shards ran at half to two-thirds of their speed. So workers go to
// the condition variable after 20 of the 50 µs tries (1 ms); work enqueued for a sleeping worker
// still wakes it at once, so latency does not grow.
caf::actor_system_config& tune_scheduler(caf::actor_system_config& config);

}  // namespace loom
