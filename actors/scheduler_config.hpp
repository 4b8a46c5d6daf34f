// The CAF scheduler settings a run uses: how many workers, and how long idle ones poll.
#pragma once

#include <cstddef>

#include <caf/actor_system_config.hpp>

#include "graphs/graph.hpp"

namespace loom {

// Pinned cores, a GPU's stream, a stage that blocks in its calls: such a stage's replicas get a
// thread of their own instead of running on the scheduler's workers.
bool runs_on_own_thread(const graph_def& graph, const stage_def& stage);

// The stage that runs on `producer`'s thread when a packet from it finds that stage idle, or
// null. `producer` must be a blocking stage — its thread mostly waits on a socket, so handling
// the packet there costs nothing that the packet's wake-up did not already pay for — and the
// stage its only consumer, on the workers, with one replica: two consumers, or two replicas,
// would take turns on one thread instead of running side by side. Spares a worker's wake-up per
// packet (same_thread_delivery.hpp); a heavy consumer delays the producer's next wait by its
// call, which the edge's capacity bounds as it bounds any consumer.
const stage_def* consumer_on_producer_thread(const graph_def& graph, const stage_def& producer);

// One worker per replica that runs on the workers, at least one, at most `cores`. CAF's own
// default, max(4, cores), gives a 2-core machine 4 workers; and every message sent from a thread
// that is not a worker (a stage on its own thread) goes to the next worker in turn, so each
// worker wakes and polls in its turn. A worker beyond the number of actors that can run at once
// adds only those wake-ups: zmq_source on its own thread feeding one sink actor kept 4 workers
// busy waking on 2 cores (bench_tcp_edge).
std::size_t scheduler_workers(const graph_def& graph, std::size_t cores);

// CAF's work-stealing workers poll for work for a while before they sleep on a condition
// variable: 100 tries in a tight loop (under a microsecond), then 500 tries 50 µs apart (25 ms).
// Those 50 µs naps are a timer and two thread switches each: while a pinned stage computes for
// tens of milliseconds the idle workers keep waking on its core and preempt it (two pinned MoE
// shards ran at half to two-thirds of their speed), and a stream of packets a few hundred µs
// apart pays for several naps per packet (a 1 MiB edge over TCP, bench_tcp_edge: 3.5–3.8 GB/s
// with 20 naps, 4.2–4.8 with none). So a worker spins 1000 tries (about 6 µs on the 2-core
// development VM; of 100 to 10,000 tries, 1000 did best there), then goes straight to the
// condition variable; work enqueued for a sleeping worker wakes it at once. Workers:
// scheduler_workers(graph, the machine's hardware threads).
caf::actor_system_config& tune_scheduler(caf::actor_system_config& config, const graph_def& graph);

}  // namespace loom
