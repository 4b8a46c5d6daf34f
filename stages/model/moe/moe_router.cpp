// The router of a sharded `moe` stage (moe_stages.hpp): scores each token against every expert,
// routes it to its top_k (routing.hpp) and sends each shard one packet holding the input itself
// and views of one routing table: the shard's rows (which token, which weight), where each of
// its experts' rows begin, and which rows of the shared experts it computes.
#include <cstring>
#include <stdexcept>

#include <fmt/format.h>

#include "stages/model/layers/linear.hpp"
#include "stages/input_path.hpp"
#include "stages/model/moe/expert_set.hpp"
#include "stages/model/moe/moe_stages.hpp"
#include "stages/model/moe/moe_tensors.hpp"
#include "stages/model/moe/routing.hpp"

namespace loom {

std::string moe_shard_port(std::size_t shard) { return fmt::format("shard{}", shard); }

namespace {

class moe_router final : public stage {
 public:
  void open(stage_context& ctx) override {
    const auto& p = ctx.params();
    d_model_ = p.integer("d_model");
    experts_ = p.integer("experts");
    top_k_ = p.integer("top_k");
    if (top_k_ > experts_)
      throw std::invalid_argument(fmt::format("top_k = {} is more than the {} experts", top_k_,
                                              experts_));
    for (const auto& set : p.strings(moe_shard_experts_key)) {
      auto experts = parse_expert_set(set, experts_);
      shard_sizes_.push_back(static_cast<std::int64_t>(experts.size()));
      order_.insert(order_.end(), experts.begin(), experts.end());
    }
    const dtype type = p.string("dtype") == "bf16" ? dtype::bf16 : dtype::f32;
    auto w = weights::open(input_path(p.string("weights"), ctx.run()),
                           linear::specs("router", d_model_, experts_, false, type));
    score_ = linear(w, "router");
  }

  void process(stage_context& ctx) override {
    const tensor& x = moe_input(ctx.input(), d_model_, ctx.name());
    const std::int64_t tokens = x.shape()[0];
    scores_.resize(static_cast<std::size_t>(tokens * experts_));
    score_.forward(ctx.device(), x.data<float>(), tokens, x.strides()[0], scores_.data(),
                   experts_);
    route_tokens(scores_.data(), tokens, experts_, top_k_, order_, routes_);
    for (std::size_t p = 0; p < order_.size(); ++p)
      ctx.count("tokens_per_expert", static_cast<std::size_t>(order_[p]),
                static_cast<std::uint64_t>(routes_.offsets[p + 1] - routes_.offsets[p]));
    emit_shards(ctx, x, tokens);
  }

 private:
  // One allocation for the whole routing table; every shard's tensors are views of it.
  void emit_shards(stage_context& ctx, const tensor& x, std::int64_t tokens) {
    const auto assignments = static_cast<std::int64_t>(routes_.tokens.size());
    const auto positions = static_cast<std::int64_t>(routes_.offsets.size());
    const auto shards = static_cast<std::int64_t>(shard_sizes_.size());
    auto& device = host_device();
    tensor token_table = device.allocate_tensor(dtype::i32, {assignments});
    tensor gate_table = device.allocate_tensor(dtype::f32, {assignments});
    tensor offset_table = device.allocate_tensor(dtype::i64, {positions});
    tensor shared_table = device.allocate_tensor(dtype::i64, {shards, 2});
    std::memcpy(token_table.raw(), routes_.tokens.data(), routes_.tokens.size() * 4);
    std::memcpy(gate_table.raw(), routes_.gates.data(), routes_.gates.size() * 4);
    std::memcpy(offset_table.raw(), routes_.offsets.data(), routes_.offsets.size() * 8);
    auto* shared = shared_table.data<std::int64_t>();
    std::int64_t first_position = 0;
    for (std::int64_t s = 0; s < shards; ++s) {
      const std::int64_t end_position = first_position + shard_sizes_[static_cast<std::size_t>(s)];
      const auto rows_begin = routes_.offsets[static_cast<std::size_t>(first_position)];
      const auto rows_end = routes_.offsets[static_cast<std::size_t>(end_position)];
      // Shared experts: shard s of n takes rows [T·s/n, T·(s+1)/n), an even split.
      shared[2 * s] = tokens * s / shards;
      shared[2 * s + 1] = tokens * (s + 1) / shards;
      packet out = ctx.input().derive();
      out.set(std::string(moe_tensor::x), x);
      out.set(std::string(moe_tensor::tokens), token_table.slice(rows_begin, rows_end));
      out.set(std::string(moe_tensor::gates), gate_table.slice(rows_begin, rows_end));
      out.set(std::string(moe_tensor::offsets), offset_table.slice(first_position, end_position + 1));
      out.set(std::string(moe_tensor::shared_rows), shared_table.slice(s, s + 1).reshape({2}));
      ctx.emit(moe_shard_port(static_cast<std::size_t>(s)), std::move(out));
      first_position = end_position;
    }
  }

  std::int64_t d_model_ = 0, experts_ = 0, top_k_ = 0;
  std::vector<std::int64_t> order_;        // every expert, shard after shard
  std::vector<std::int64_t> shard_sizes_;  // experts per shard
  linear score_;
  std::vector<float> scores_;
  moe_routes routes_;
};

}  // namespace

stage_spec moe_router_spec(std::size_t shards) {
  stage_spec spec;
  spec.type = "moe_router";
  spec.summary = "The router of a moe stage";
  spec.doc = "Made by the expansion of a moe stage (moe_stages.hpp); graph files name `moe`.";
  spec.inputs = {{"in", "[tokens, d_model] f32", {dtype::f32, 2}}};
  for (std::size_t s = 0; s < shards; ++s)
    spec.outputs.push_back({moe_shard_port(s), "the input and the rows routed to shard s",
                            {dtype::f32, 2}});
  spec.params = moe_params();
  spec.params.push_back({moe_shard_experts_key, param_type::string_list, std::nullopt,
                         "each shard's experts", {}, {}, {}});
  spec.make = [] { return std::make_unique<moe_router>(); };
  spec.infer = [shards](const param_values&, const std::vector<port_type>& inputs) {
    return std::vector<port_type>(shards, {dtype::f32, 2, inputs.at(0).shape});
  };
  spec.estimate = [](const param_values& p, const std::vector<port_type>& inputs) {
    const auto tokens = moe_known_tokens(inputs.at(0));
    const double bytes = p.string("dtype") == "bf16" ? 2 : 4;
    return stage_cost{2.0 * tokens * static_cast<double>(p.integer("d_model") * p.integer("experts")),
                      static_cast<std::size_t>(bytes * static_cast<double>(p.integer("d_model") *
                                                                           p.integer("experts")))};
  };
  return spec;
}

}  // namespace loom
