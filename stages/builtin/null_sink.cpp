// null_sink: consumes packets. The runtime measures what every sink receives (packets, bytes,
// latency from creation at the source); `delay_us` makes it a slow consumer for backpressure
// tests and benchmarks.
//
//   [stages.sink]
//   type = "null_sink"
//   delay_us = 1000
//   inputs.in = { from = "hop.out", capacity = 64, policy = "block" }
#include <chrono>
#include <thread>

#include "stages/registry.hpp"

namespace loom {
namespace {

class null_sink final : public stage {
 public:
  void open(stage_context& ctx) override {
    delay_ = std::chrono::microseconds(ctx.params().integer("delay_us"));
  }

  void process(stage_context&) override {
    if (delay_.count() > 0) std::this_thread::sleep_for(delay_);
  }

 private:
  std::chrono::microseconds delay_{0};
};

}  // namespace

stage_spec null_sink_spec() {
  stage_spec spec;
  spec.type = "null_sink";
  spec.summary = "Consumes packets; the runtime measures count, bytes and latency";
  spec.doc = R"(Consumes every packet. Like every sink, its packets, bytes and latency (from
creation at the source to arrival here) appear under "sinks" in `--stats json`.
`delay_us` sleeps that long per packet, to model a slow consumer.

    [stages.sink]
    type = "null_sink"
    delay_us = 1000
    inputs.in = { from = "hop.out", capacity = 64, policy = "block" })";
  spec.inputs = {{"in", "any packet", {}}};
  spec.params = {integer_param("delay_us", 0, "sleep per packet, in microseconds", 0)};
  spec.device_kinds = {"*"};  // never reads tensor data
  spec.make = [] { return std::make_unique<null_sink>(); };
  return spec;
}

}  // namespace loom
