// moe: a DeepSeek-style Mixture-of-Experts layer whose experts are spread over devices. What a
// graph file names; graphs/expand_moe.cpp turns it into a router, shards and a combiner
// (moe_stages.hpp), and docs/model-architecture.md says what they compute together.
//
//   [devices.cpu0]
//   kind = "cpu"
//   cores = [0]
//   [devices.cpu1]
//   kind = "cpu"
//   cores = [1]
//
//   [stages.backbone]
//   type = "moe"
//   d_model = 1024
//   d_ff = 512              # per expert
//   experts = 16
//   top_k = 2
//   shared_experts = 1
//   weights = "random:7"    # or a .safetensors file
//   shards = [{ device = "cpu0", experts = "0-7" }, { device = "cpu1", experts = "8-15" }]
//   inputs.in = "encoders.out"
#include <stdexcept>

#include <fmt/format.h>

#include "stages/model/moe/moe_stages.hpp"

namespace loom {

std::vector<param_spec> moe_params() {
  return {
      integer_param("d_model", 64, "width of a token: the input's and output's last dimension", 1),
      integer_param("d_ff", 128, "hidden width of each expert's SwiGLU", 1),
      integer_param("experts", 8, "routed experts", 1, 4096),
      integer_param("top_k", 2, "routed experts per token", 1, 64),
      integer_param("shared_experts", 1, "experts every token goes through", 0, 64),
      string_param("weights", "random:0",
                   "a .safetensors file (relative: to the graph file) or \"random:SEED\""),
      string_param("dtype", "f32", "dtype of the weights: f32, or bf16 (products in bf16, "
                                   "accumulated in f32)",
                   {"f32", "bf16"}),
  };
}

std::vector<weight_spec> moe_expert_weights(const std::string& prefix, const param_values& p) {
  const auto d = p.integer("d_model"), ff = p.integer("d_ff");
  const dtype type = p.string("dtype") == "bf16" ? dtype::bf16 : dtype::f32;
  return {{prefix + ".gate.weight", type, {d, ff}, weight_fill::uniform, d},
          {prefix + ".up.weight", type, {d, ff}, weight_fill::uniform, d},
          {prefix + ".down.weight", type, {ff, d}, weight_fill::uniform, ff}};
}

stage_spec moe_spec() {
  stage_spec spec;
  spec.type = "moe";
  spec.summary = "A DeepSeek-style Mixture-of-Experts layer, its experts sharded over devices";
  spec.doc = R"(A Mixture-of-Experts layer: a router scores each token, picks its top_k experts
with normalised weights, the experts (SwiGLU) run on the tokens routed to them, shared experts
run on every token, and the results are weighted and summed (docs/model-architecture.md). The
input and output are "data" [tokens, d_model] f32.

At plan time the stage becomes a router (NAME/router), one actor per shard (NAME/shard0, ...)
on the shard's device, and a combiner that keeps the name NAME. The router sends each shard only
the rows routed to its experts, as views; each shard also computes an even share of the shared
experts' rows. Without `shards` there is one shard holding every expert, on the stage's device.
`loom run --stats json` reports "tokens_per_expert" under NAME/router.

    [stages.backbone]
    type = "moe"
    d_model = 1024
    d_ff = 512
    experts = 16
    top_k = 2
    shared_experts = 1
    weights = "random:7"
    shards = [{ device = "cpu0", experts = "0-7" }, { device = "cpu1", experts = "8-15" }]
    inputs.in = "encoders.out"

Weights: "router.weight" [d_model, experts], "experts.E.{gate,up,down}.weight" and
"shared.S.{gate,up,down}.weight" ([d_model, d_ff], [d_model, d_ff], [d_ff, d_model]).)";
  spec.inputs = {{"in", "[tokens, d_model] f32 \"data\" (or the only tensor)", {dtype::f32, 2}}};
  spec.outputs = {{"out", "[tokens, d_model] f32 \"data\"", {dtype::f32, 2}}};
  spec.params = moe_params();
  spec.make = []() -> std::unique_ptr<stage> {
    throw std::logic_error("a moe stage runs as its router, shards and combiner");
  };
  spec.infer = [](const param_values&, const std::vector<port_type>& inputs) {
    return std::vector<port_type>{{dtype::f32, 2, inputs.at(0).shape}};
  };
  return spec;
}

}  // namespace loom
