// zmq_source: the receiving end of a graph edge that crosses processes or machines. It binds (or
// connects) a ZeroMQ socket, lets each sender — a zmq_sink in another loom process, or an
// external client speaking connectors/wire.capnp — send `capacity` packets ahead, credits them
// back as its packets move on, and emits what arrives on `out`, each sender's packets in order.
// The stream ends after `senders` senders said bye; a sender silent for `silence_ms` fails the
// stage, naming the endpoint. The graph partitioner places one for every edge into a node;
// by hand:
//
//   [stages.from_camera_box]
//   type = "zmq_source"
//   endpoint = "tcp://*:7001"
//   capacity = 16
//   senders = 1
//   on_error = "fail"         # a dead peer ends the run instead of restarting the stage
//
// Payload frames become tensors without a copy. created_ns survives the wire only between
// processes on one host (equal boot ids), else it is the arrival time.
#include <chrono>

#include <fmt/format.h>

#include "connectors/edge_channel.hpp"
#include "stages/net/edge_params.hpp"
#include "stages/net/wire_counters.hpp"
#include "stages/registry.hpp"

namespace loom {
namespace {

using namespace std::chrono_literals;

// The longest one call waits for a packet: a stop request or an abandoned run is seen within this.
constexpr auto poll_slice = 50ms;

class zmq_source final : public stage {
 public:
  void open(stage_context& ctx) override {
    auto options = net_stages::edge_options_of(ctx);
    options.capacity = static_cast<std::uint32_t>(ctx.params().integer("capacity"));
    senders_ = static_cast<std::size_t>(ctx.params().integer("senders"));
    channel_ = std::make_unique<edge_channel>(edge_role::receives_data, std::move(options),
                                              shared_process_network());
    counters_.update(ctx, channel_->counts());
  }

  // Emits every packet that arrived since the last call: a batch per call, not a call per packet.
  void process(stage_context& ctx) override {
    auto arrived = channel_->take(poll_slice);
    counters_.update(ctx, channel_->counts());
    for (auto& p : arrived) ctx.emit("out", std::move(p));
    if (!arrived.empty()) return;
    const bool all_said_bye = senders_ > 0 && channel_->byes() >= senders_;
    if ((all_said_bye && channel_->queue_empty()) || ctx.stop_requested() || ctx.abandoned()) {
      ctx.finish();
      return;
    }
    ctx.retry_after(0us);
  }

  void close(stage_context& ctx) override {
    if (!channel_) return;
    counters_.update(ctx, channel_->counts());
    channel_->leave("the receiving stage finished", ctx.abandoned() ? 0ms : 1s);
    channel_.reset();
  }

 private:
  std::size_t senders_ = 1;
  std::unique_ptr<edge_channel> channel_;
  net_stages::wire_counters counters_{"received"};
};

}  // namespace

stage_spec zmq_source_spec() {
  stage_spec spec;
  spec.type = "zmq_source";
  spec.summary = "Receives packets from other loom processes or clients over ZeroMQ";
  spec.doc = R"(Receives the packets of a graph edge from another process or machine over ZeroMQ
(connectors/wire.capnp; docs/connectors.md, "Data plane") and emits them on `out`. Each sender
may have `capacity` packets in flight; credit goes back as packets move on, so small packets want
a larger capacity (1 KiB: 256 moves about 2.5 times the packets of the default 16), at the price
of up to capacity × packet size held per sender (docs/stages.md). The stream ends after `senders`
senders said bye (0: when the run is stopped). A sender silent for `silence_ms` fails the stage,
naming the endpoint; give it `on_error = "fail"` so that the run ends with it.
Counters: wire_packets_received, wire_bytes_received, refused_frames, in_flight_peak (most
packets one sender had unreturned), peers.

    [stages.from_camera_box]
    type = "zmq_source"
    endpoint = "tcp://*:7001"
    capacity = 16
    senders = 1
    on_error = "fail")";
  spec.outputs = {{"out", "the packets as they were sent, tensors in host memory", {}}};
  spec.params = net_stages::shared_params();
  spec.params.push_back(integer_param(
      "capacity", 16, "credits granted to each sender: packets it may have in flight", 1, 65536));
  spec.params.push_back(integer_param(
      "senders", 1, "the stream ends after this many senders said bye (0: until stopped)", 0));
  spec.device_kinds = {"cpu"};
  spec.blocking = true;
  spec.make = [] { return std::make_unique<zmq_source>(); };
  return spec;
}

}  // namespace loom
