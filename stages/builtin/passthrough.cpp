// passthrough: forwards each packet unchanged, the same tensors, no copy; optional busy work
// stands in for compute in benchmarks and tests.
//
//   [stages.hop]
//   type = "passthrough"
//   work_us = 50          # spin this long per packet
//   inputs.in = "src.out"
#include <chrono>

#include "stages/registry.hpp"

namespace loom {
namespace {

class passthrough final : public stage {
 public:
  void open(stage_context& ctx) override {
    work_ = std::chrono::microseconds(ctx.params().integer("work_us"));
  }

  void process(stage_context& ctx) override {
    if (work_.count() > 0) {
      // Spin rather than sleep: this models compute that occupies the core.
      auto until = std::chrono::steady_clock::now() + work_;
      while (std::chrono::steady_clock::now() < until) {
      }
    }
    ctx.emit("out", ctx.take_input("in"));
  }

 private:
  std::chrono::microseconds work_{0};
};

}  // namespace

stage_spec passthrough_spec() {
  stage_spec spec;
  spec.type = "passthrough";
  spec.summary = "Forwards each packet unchanged (no copy), with optional busy work";
  spec.doc = R"(Forwards every packet it receives, the same tensors, without copying them.
`work_us` spins the core for that long per packet, to stand in for compute.

    [stages.hop]
    type = "passthrough"
    work_us = 50
    inputs.in = "src.out")";
  spec.inputs = {{"in", "any packet", {}}};
  spec.outputs = {{"out", "the same packet", {}}};
  spec.params = {integer_param("work_us", 0, "busy work per packet, in microseconds", 0)};
  spec.device_kinds = {"*"};  // never reads tensor data
  spec.make = [] { return std::make_unique<passthrough>(); };
  spec.infer = [](const param_values&, const std::vector<port_type>& inputs) { return inputs; };
  return spec;
}

}  // namespace loom
