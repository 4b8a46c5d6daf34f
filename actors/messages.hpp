// The messages stage actors and the coordinator exchange. Private to actors/: they carry
// shared pointers and are only ever sent within one process, so they skip serialization.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <caf/all.hpp>

#include "actors/device_set.hpp"
#include "actors/latency_histogram.hpp"
#include "actors/link_sender.hpp"
#include "devices/cpu_affinity.hpp"
#include "graphs/graph.hpp"

namespace loom {

// Everything one replica needs to know about its place in the graph.
struct replica_plan {
  struct in_lane {
    caf::actor producer;
    std::uint32_t producer_link = 0;
  };
  struct in_port {
    std::size_t capacity = 0;
    std::vector<in_lane> lanes;
    // Tensors arriving here are moved into this stage's device memory (a planned transfer).
    bool transfer = false;
  };
  struct out_link {
    caf::actor consumer;
    std::uint32_t port = 0;
    std::uint32_t lane = 0;
    std::size_t capacity = 0;
    full_policy policy = full_policy::block;
    std::string edge;  // "producer.port -> consumer.port"
    // The consumer runs on the producer's thread when a packet finds it idle (see
    // same_thread_delivery.hpp and consumer_on_producer_thread in scheduler_config.hpp).
    bool on_producer_thread = false;
  };
  // One edge leaving an output port: one link, or one per consumer replica (dispatch).
  struct out_edge {
    std::vector<std::uint32_t> links;
  };

  const stage_def* stage = nullptr;
  const device_def* device = nullptr;
  loom::device* runs_on = nullptr;        // the opened device
  const device_set* devices = nullptr;    // every device of the run, for transfers
  int replica = 0;
  run_info run;
  caf::actor coordinator;
  std::vector<in_port> inputs;
  std::vector<out_link> links;
  std::vector<std::vector<out_edge>> outputs;  // per output port
  std::function<void(const std::string&)> log;
  // Live counters the coordinator reads for progress.
  std::shared_ptr<std::atomic<std::uint64_t>> live_in, live_out;
  // Set when the run is being abandoned: replicas stop between packets instead of working
  // through what is queued.
  std::shared_ptr<const std::atomic<bool>> abandoned;
};

// What a replica reports when it has finished.
struct replica_report {
  std::string stage;
  int replica = 0;
  // `discarded`: packets the replica dropped itself (unmatched inputs, a stage's own count).
  std::uint64_t packets_in = 0, packets_out = 0, errors = 0, restarts = 0, discarded = 0;
  std::int64_t busy_ns = 0;
  cpu_set_record cpus;
  std::uint64_t sink_packets = 0, sink_bytes = 0;
  std::vector<std::uint64_t> bytes_transferred;  // per input port
  latency_histogram latency;
  // Stages with `batch`: calls of process_batch, and the input sets they were given.
  std::uint64_t batches = 0, batch_items = 0;
  // What the stage counted with stage_context::count, by counter name.
  std::map<std::string, std::vector<std::uint64_t>> counters;
  struct link_report {
    std::string edge;
    std::uint64_t sent = 0, dropped = 0;
  };
  std::vector<link_report> links;
};

struct init_msg {
  std::shared_ptr<const replica_plan> plan;
};
struct opened_msg {
  std::string stage;
  int replica = 0;
  std::string error;  // empty: opened
};
struct data_msg {
  std::uint32_t port = 0;
  std::uint32_t lane = 0;
  link_sender::batch batch;
};
struct eos_msg {
  std::uint32_t port = 0;
  std::uint32_t lane = 0;
};
struct credit_msg {
  std::uint32_t link = 0;
  std::uint32_t credits = 0;
};
struct tick_msg {};
struct start_msg {};
struct stop_msg {};
struct snapshot_msg {};  // answered with a done_msg holding what the replica has counted so far
struct done_msg {
  std::shared_ptr<replica_report> report;
};
struct failed_msg {
  std::string stage;
  std::string message;
};

}  // namespace loom

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(loom::init_msg)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(loom::opened_msg)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(loom::data_msg)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(loom::eos_msg)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(loom::credit_msg)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(loom::tick_msg)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(loom::start_msg)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(loom::stop_msg)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(loom::snapshot_msg)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(loom::done_msg)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(loom::failed_msg)
