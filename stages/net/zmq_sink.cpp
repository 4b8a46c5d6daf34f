// zmq_sink: the sending end of a graph edge that crosses processes or machines. It connects (or
// binds) a ZeroMQ socket and sends each packet to a receiver — a zmq_source in another loom
// process, or an external client speaking connectors/wire.capnp — that holds credit for it, one
// credit per packet, round robin when several receivers are bound to it. Without credit the
// stage waits, so the edge into it blocks or drops by its policy and memory never grows. When
// its input ends it waits until everything was credited back, then says bye. The graph
// partitioner places one for every edge out of a node; by hand:
//
//   [stages.to_gpu_box]
//   type = "zmq_sink"
//   endpoint = "tcp://10.0.0.2:7001"
//   bind = false
//   server_key = "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7"   # gpu box's NAME.pub (CURVE)
//   on_error = "fail"
//   inputs.in = { from = "camera.out", capacity = 8, policy = "drop_newest" }
//
// Tensors go out as payload frames without a copy; they must be in host memory (a cpu stage's
// inputs always are). A packet goes out from the stage's own thread, inside its call, when a
// receiver holds credit: no thread switch per packet. Waits last 50 ms at a time, so that a run
// being abandoned is seen within that.
#include <chrono>
#include <stdexcept>

#include <fmt/format.h>

#include "connectors/edge_channel.hpp"
#include "stages/net/edge_params.hpp"
#include "stages/net/wire_counters.hpp"
#include "stages/registry.hpp"

namespace loom {
namespace {

using namespace std::chrono_literals;

// The longest one wait lasts before the channel's failure is looked at again.
constexpr auto wait_slice = 50ms;

class zmq_sink final : public stage {
 public:
  void open(stage_context& ctx) override {
    channel_ = std::make_unique<edge_channel>(edge_role::sends_data,
                                              net_stages::edge_options_of(ctx),
                                              shared_process_network());
    counters_.update(ctx, channel_->counts());
  }

  void process(stage_context& ctx) override {
    const auto& p = ctx.input("in");
    for (const auto& [name, t] : p.tensors)
      if (t.device() != host_memory_space)
        throw std::invalid_argument(fmt::format(
            "tensor '{}' is in memory space '{}', the wire sends host memory; place this "
            "zmq_sink on a cpu device (the runtime then moves its inputs to the host)",
            name, t.device()));
    while (!channel_->push(p, wait_slice)) {
      counters_.update(ctx, channel_->counts());
      if (ctx.abandoned())
        throw std::runtime_error(fmt::format(
            "run abandoned while waiting for credit from {} (packet {} not sent)",
            channel_->endpoint(), p.sequence));
    }
    counters_.update(ctx, channel_->counts());
  }

  // An abandoned run ends without a bye: the receivers must not take the stream for complete.
  void close(stage_context& ctx) override {
    if (!channel_) return;
    while (!ctx.abandoned() && !channel_->drained(wait_slice))
      counters_.update(ctx, channel_->counts());
    if (!ctx.abandoned()) channel_->leave("end of stream", 1s);
    counters_.update(ctx, channel_->counts());
    channel_.reset();
  }

 private:
  std::unique_ptr<edge_channel> channel_;
  net_stages::wire_counters counters_{"sent"};
};

}  // namespace

stage_spec zmq_sink_spec() {
  stage_spec spec;
  spec.type = "zmq_sink";
  spec.summary = "Sends packets to other loom processes or clients over ZeroMQ, under credit";
  spec.doc = R"(Sends the packets of a graph edge to another process or machine over ZeroMQ
(connectors/wire.capnp; docs/connectors.md, "Data plane"), one per credit the receiver granted;
with several receivers bound to it, round robin among those with credit. Without credit it
waits: the edge into it blocks or drops by its policy. After its input ends it waits until every
packet was credited back, then says bye. A receiver silent for `silence_ms` fails the stage.
Counters: wire_packets_sent, wire_bytes_sent, credit_wait_ms, in_flight_peak (most packets sent
and not credited back), refused_frames, peers.

    [stages.to_gpu_box]
    type = "zmq_sink"
    endpoint = "tcp://10.0.0.2:7001"
    bind = false
    on_error = "fail"
    inputs.in = { from = "camera.out", capacity = 8, policy = "drop_newest" })";
  spec.inputs = {{"in", "any packet; tensors in host memory", {}}};
  spec.params = net_stages::shared_params();
  spec.device_kinds = {"cpu"};
  spec.blocking = true;
  spec.make = [] { return std::make_unique<zmq_sink>(); };
  return spec;
}

}  // namespace loom
