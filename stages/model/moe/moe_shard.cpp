// One shard of a `moe` stage (moe_stages.hpp): the experts it holds, on its own device. Each
// expert runs its SwiGLU on the rows the router gave it, gathered into one dense block, with gate
// and up fused into one product; the results are scaled by the rows' gate weights. The shard
// also runs every shared expert on its own range of the input's rows, read in place.
//
// On a cpu device all of this runs on the host. On a cuda device the weights are moved into GPU
// memory at open, the runtime brings each packet's tensors there, and gathering, SwiGLU, scaling
// and the products are queued on the executor's stream (the device's element-wise kernels and
// cuBLAS); only the few expert offsets and the shared row range come back to the host, to drive
// the loop. The scratch lives in the device's memory and is kept between packets.
//
//   shards = [{ device = "gpu0", experts = "0-7" }, { device = "cpu", experts = "8-15" }]
#include <algorithm>
#include <stdexcept>

#include <fmt/format.h>

#include "stages/model/layers/linear.hpp"
#include "stages/input_path.hpp"
#include "stages/model/moe/expert_set.hpp"
#include "stages/model/moe/moe_stages.hpp"
#include "stages/model/moe/moe_tensors.hpp"
#include "stages/model/moe/recycled_outputs.hpp"

namespace loom {
namespace {

// An expert's two products: [gate | up] fused, then down.
struct swiglu_expert {
  linear gate_up;
  linear down;
};

// Memory on the stage's device for `floats` floats, grown (with room to spare, as row counts vary
// from packet to packet) only when a packet needs more than any before it.
float* scratch(device& dev, buffer& memory, std::int64_t floats) {
  const auto bytes = static_cast<std::size_t>(floats) * sizeof(float);
  if (memory.size() < bytes) memory = dev.allocate(bytes + bytes / 8);
  return reinterpret_cast<float*>(memory.data());
}

// The values of a small i64 tensor on the host: itself in host memory, else a copy, complete
// after `dev.synchronize()`.
const std::int64_t* on_host(device& dev, const tensor& t, std::vector<std::int64_t>& copy) {
  if (t.device() == host_memory_space) return t.data<std::int64_t>();
  copy.resize(static_cast<std::size_t>(t.numel()));
  dev.copy_to_host(t.raw(), reinterpret_cast<std::byte*>(copy.data()), t.nbytes());
  return copy.data();
}

class moe_shard final : public stage {
 public:
  void open(stage_context& ctx) override {
    const auto& p = ctx.params();
    d_model_ = p.integer("d_model");
    d_ff_ = p.integer("d_ff");
    held_ = parse_expert_set(p.string(moe_experts_held_key), p.integer("experts"));
    std::vector<weight_spec> expected;
    std::vector<std::string> prefixes;
    for (auto e : held_) prefixes.push_back(fmt::format("experts.{}", e));
    for (std::int64_t s = 0; s < p.integer("shared_experts"); ++s)
      prefixes.push_back(fmt::format("shared.{}", s));
    for (const auto& prefix : prefixes)
      for (auto& spec : moe_expert_weights(prefix, p)) expected.push_back(std::move(spec));
    auto w = weights::open(input_path(p.string("weights"), ctx.run()), expected);
    for (const auto& prefix : prefixes) {
      auto& expert = prefix[0] == 'e' ? routed_.emplace_back() : shared_.emplace_back();
      expert.gate_up = linear(w, {prefix + ".gate", prefix + ".up"});
      expert.down = linear(w, prefix + ".down");
    }
    auto& device = ctx.device();
    if (device.memory_space() != host_memory_space)
      for (auto* experts : {&routed_, &shared_})
        for (auto& expert : *experts) {
          expert.gate_up.to_device(device);
          expert.down.to_device(device);
        }
  }

  void process(stage_context& ctx) override {
    const packet& in = ctx.input();
    const tensor& x = in.at(moe_tensor::x);
    const tensor& tokens = in.at(moe_tensor::tokens);
    const tensor& gates = in.at(moe_tensor::gates);
    const tensor& offsets = in.at(moe_tensor::offsets);
    if (offsets.numel() != static_cast<std::int64_t>(held_.size()) + 1)
      throw std::invalid_argument(fmt::format(
          "moe shard '{}': the router sent {} expert offsets for the {} experts this shard holds",
          ctx.name(), offsets.numel(), held_.size()));
    auto& device = ctx.device();
    const auto* expert_offsets = on_host(device, offsets, offsets_copy_);
    const auto* shared_rows = on_host(device, in.at(moe_tensor::shared_rows), shared_rows_copy_);
    device.synchronize();
    const std::int64_t rows = tokens.numel();
    packet out = in.derive();
    out.set(std::string(moe_tensor::tokens), tokens);
    out.set(std::string(moe_tensor::shared_rows), in.at(moe_tensor::shared_rows));
    tensor routed = outputs_.take(device, rows, d_model_);
    run_routed(device, x, tokens.data<std::int32_t>(), gates.data<float>(),
               expert_offsets, routed.data<float>());
    out.set(std::string(moe_tensor::routed), std::move(routed));
    if (!shared_.empty()) {
      const std::int64_t begin = shared_rows[0], count = shared_rows[1] - shared_rows[0];
      tensor shared = outputs_.take(device, count, d_model_);
      if (count > 0)
        for (std::size_t s = 0; s < shared_.size(); ++s)
          run_expert(device, shared_[s], x.data<float>() + begin * x.strides()[0],
                     x.strides()[0], count, shared.data<float>(), s > 0);
      out.set(std::string(moe_tensor::shared), std::move(shared));
    }
    // The combiner reads the outputs on another thread: the queued work must be done.
    device.synchronize();
    ctx.emit("out", std::move(out));
  }

 private:
  void run_routed(device& device, const tensor& x, const std::int32_t* tokens, const float* gates,
                  const std::int64_t* offsets, float* routed) {
    const std::int64_t rows = offsets[held_.size()] - offsets[0];
    float* gathered = scratch(device, gathered_, rows * d_model_);
    device.gather_rows(x.data<float>(), x.strides()[0], tokens, rows, d_model_, gathered);
    for (std::size_t e = 0; e < held_.size(); ++e) {
      const std::int64_t begin = offsets[e] - offsets[0], count = offsets[e + 1] - offsets[e];
      if (count == 0) continue;
      run_expert(device, routed_[e], gathered + begin * d_model_, d_model_, count,
                 routed + begin * d_model_, false);
    }
    device.scale_rows(routed, rows, d_model_, gates);
  }

  // y (+)= swiglu(x) for `rows` rows of x (row stride ldx); y is dense [rows, d_model].
  void run_expert(device& device, swiglu_expert& expert, const float* x, std::int64_t ldx,
                  std::int64_t rows, float* y, bool accumulate) {
    float* h = scratch(device, hidden_, rows * 2 * d_ff_);
    expert.gate_up.forward(device, x, rows, ldx, h, 2 * d_ff_);
    device.swiglu_rows(h, rows, d_ff_);
    expert.down.forward(device, h, rows, 2 * d_ff_, y, d_model_, accumulate);
  }

  std::int64_t d_model_ = 0, d_ff_ = 0;
  std::vector<std::int64_t> held_;
  std::vector<swiglu_expert> routed_;  // per held expert, in `held_` order
  std::vector<swiglu_expert> shared_;
  buffer gathered_, hidden_;  // in the device's memory
  std::vector<std::int64_t> offsets_copy_, shared_rows_copy_;
  recycled_outputs outputs_;
};

}  // namespace

stage_spec moe_shard_spec() {
  stage_spec spec;
  spec.type = "moe_shard";
  spec.summary = "The experts of one shard of a moe stage";
  spec.doc = "Made by the expansion of a moe stage (moe_stages.hpp); graph files name `moe`.";
  spec.inputs = {{"in", "the layer's input and this shard's rows", {dtype::f32, 2}}};
  spec.outputs = {{"out", "gate-weighted expert outputs per row, shared-expert rows",
                   {dtype::f32, 2}}};
  spec.device_kinds = {"cpu", "cuda"};
  spec.params = moe_params();
  spec.params.push_back(string_param(moe_experts_held_key, std::nullopt, "the experts it holds"));
  spec.params.push_back(integer_param(moe_shard_index_key, std::nullopt, "which shard", 0));
  spec.params.push_back(integer_param(moe_shard_count_key, std::nullopt, "how many shards", 1));
  spec.make = [] { return std::make_unique<moe_shard>(); };
  spec.infer = [](const param_values&, const std::vector<port_type>&) {
    return std::vector<port_type>{{dtype::f32, 2, std::nullopt}};
  };
  spec.estimate = [](const param_values& p, const std::vector<port_type>& inputs) {
    const double tokens = moe_known_tokens(inputs.at(0));
    const double held = static_cast<double>(
        parse_expert_set(p.string(moe_experts_held_key), p.integer("experts")).size());
    const double shared = static_cast<double>(p.integer("shared_experts"));
    const double per_token_expert =
        6.0 * static_cast<double>(p.integer("d_model") * p.integer("d_ff"));
    // Routing spreads top_k·tokens rows evenly over the experts, on average.
    const double routed_rows =
        tokens * static_cast<double>(p.integer("top_k")) * held / static_cast<double>(p.integer("experts"));
    const double shared_rows = tokens / static_cast<double>(p.integer(moe_shard_count_key));
    const double bytes = p.string("dtype") == "bf16" ? 2 : 4;
    return stage_cost{per_token_expert * (routed_rows + shared * shared_rows),
                      static_cast<std::size_t>((held + shared) * bytes * per_token_expert / 2)};
  };
  return spec;
}

}  // namespace loom
