// The combiner of a sharded `moe` stage (moe_stages.hpp); it carries the stage's own name. It
// waits for every shard's part of a packet (inputs aligned by sequence), places the shared
// experts' rows and adds each routed row, already weighted by its gate, to its token's row.
#include <algorithm>
#include <stdexcept>

#include <fmt/format.h>

#include "stages/model/moe/moe_stages.hpp"
#include "stages/model/moe/moe_tensors.hpp"
#include "stages/model/moe/recycled_outputs.hpp"

namespace loom {
namespace {

class moe_combiner final : public stage {
 public:
  void open(stage_context& ctx) override { d_model_ = ctx.params().integer("d_model"); }

  void process(stage_context& ctx) override {
    const auto shards = ctx.spec().inputs.size();
    // The shards' shared-row ranges tile [0, tokens).
    std::int64_t tokens = 0;
    for (std::size_t s = 0; s < shards; ++s)
      tokens = std::max(tokens, ctx.input_at(s)->at(moe_tensor::shared_rows).data<std::int64_t>()[1]);
    tensor out = outputs_.take(ctx.device(), tokens, d_model_);
    float* y = out.data<float>();
    if (ctx.input_at(0)->find(moe_tensor::shared) == nullptr) {
      std::fill_n(y, tokens * d_model_, 0.0f);
    } else {
      for (std::size_t s = 0; s < shards; ++s) {
        const packet& part = *ctx.input_at(s);
        const auto* rows = part.at(moe_tensor::shared_rows).data<std::int64_t>();
        std::copy_n(part.at(moe_tensor::shared).data<float>(), (rows[1] - rows[0]) * d_model_,
                    y + rows[0] * d_model_);
      }
    }
    for (std::size_t s = 0; s < shards; ++s) {
      const packet& part = *ctx.input_at(s);
      const tensor& routed = part.at(moe_tensor::routed);
      const auto* tokens_of = part.at(moe_tensor::tokens).data<std::int32_t>();
      const float* rows = routed.data<float>();
      for (std::int64_t r = 0; r < routed.shape()[0]; ++r) {
        float* target = y + static_cast<std::int64_t>(tokens_of[r]) * d_model_;
        const float* row = rows + r * d_model_;
        for (std::int64_t c = 0; c < d_model_; ++c) target[c] += row[c];
      }
    }
    packet result = ctx.input_at(0)->derive();
    result.set("data", std::move(out));
    ctx.emit("out", std::move(result));
  }

 private:
  std::int64_t d_model_ = 0;
  recycled_outputs outputs_;
};

}  // namespace

stage_spec moe_combiner_spec(std::size_t shards) {
  stage_spec spec;
  spec.type = "moe_combiner";
  spec.summary = "The combiner of a moe stage";
  spec.doc = "Made by the expansion of a moe stage (moe_stages.hpp); graph files name `moe`.";
  for (std::size_t s = 0; s < shards; ++s)
    spec.inputs.push_back({moe_shard_port(s), "shard s's part", {dtype::f32, 2}});
  spec.outputs = {{"out", "[tokens, d_model] f32 \"data\"", {dtype::f32, 2}}};
  spec.params = moe_params();
  spec.make = [] { return std::make_unique<moe_combiner>(); };
  spec.infer = [](const param_values&, const std::vector<port_type>&) {
    return std::vector<port_type>{{dtype::f32, 2, std::nullopt}};
  };
  return spec;
}

}  // namespace loom
