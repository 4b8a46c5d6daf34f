// text_encoder: token ids to one f32 row per token (docs/model-architecture.md) — an embedding
// lookup, `layers` pre-norm transformer blocks with RoPE attention and SwiGLU MLPs, and a final
// RMSNorm. It runs on the cpu device's matrix product; the text side of a multimodal pipeline.
//
//   [stages.text]
//   type = "text_encoder"
//   weights = "models/text_encoder.safetensors"   # or "random:SEED"
//   dtype = "bf16"                                # of every tensor in the file
//   vocab = 50257
//   d_model = 512
//   layers = 8
//   heads = 8
//   d_ff = 2048
//   inputs.in = "tokens.out"                      # a tokenizer
//
// The input's "tokens" are i64 (or i32) [T]; the output "data" is f32 [T, d_model] with the
// input's metadata.
#include <fmt/format.h>

#include <cstring>
#include <stdexcept>

#include "stages/model/encoder_stage.hpp"
#include "stages/model/layers/widen.hpp"
#include "stages/registry.hpp"

namespace loom {
namespace {

// What the planner assumes of a text whose length is not known before the run.
constexpr std::int64_t typical_text_tokens = 77;

class text_encoder final : public encoder_stage {
 protected:
  std::vector<weight_spec> embedding_specs(const param_values& p,
                                           const encoder_sizes& sizes) const override {
    return {{"embed.weight", sizes.type, {p.integer("vocab"), sizes.d_model}}};
  }

  void load_embedding(const weights& w, const stage_context& ctx) override {
    vocab_ = ctx.params().integer("vocab");
    table_ = widen_to_f32(w.get("embed.weight"));
  }

  std::int64_t embed(device&, const packet& input, std::vector<float>& x) override {
    const tensor* ids = input.find("tokens");
    if (!ids)
      throw std::invalid_argument(fmt::format(
          "{}: the input packet has no \"tokens\" tensor (connect a tokenizer)", label()));
    if (ids->rank() != 1 || !ids->is_contiguous() ||
        (ids->type() != dtype::i64 && ids->type() != dtype::i32))
      throw std::invalid_argument(
          fmt::format("{}: \"tokens\" must be dense i64 or i32 [T], got {} {}", label(),
                      name_of(ids->type()), to_string(ids->shape())));
    const std::int64_t tokens = ids->shape()[0];
    if (tokens == 0)
      throw std::invalid_argument(fmt::format("{}: \"tokens\" is empty; it needs at least one "
                                              "token",
                                              label()));
    const std::int64_t d = sizes().d_model;
    x.resize(static_cast<std::size_t>(tokens * d));
    for (std::int64_t t = 0; t < tokens; ++t) {
      const std::int64_t id = ids->type() == dtype::i64 ? ids->data<const std::int64_t>()[t]
                                                         : ids->data<const std::int32_t>()[t];
      if (id < 0 || id >= vocab_)
        throw std::invalid_argument(fmt::format(
            "{}: token {} is id {}, outside the vocabulary of {} (vocab must match the "
            "tokenizer's)",
            label(), t, id, vocab_));
      std::memcpy(x.data() + t * d, table_.data() + id * d, static_cast<std::size_t>(d) * 4);
    }
    return tokens;
  }

 private:
  std::int64_t vocab_ = 0;
  std::vector<float> table_;  // [vocab, d], f32 whatever the file's dtype
};

std::optional<std::int64_t> known_tokens(const port_type& input) {
  if (!input.shape || input.shape->size() != 1) return std::nullopt;
  return (*input.shape)[0];
}

}  // namespace

stage_spec text_encoder_spec() {
  stage_spec spec;
  spec.type = "text_encoder";
  spec.summary = "Token ids to f32 token rows: embedding, transformer blocks, RMSNorm";
  spec.doc = R"(Encodes each input's "tokens" (i64 or i32 [T], a tokenizer's output) into "data",
f32 [T, d_model]: an embedding lookup (embed.weight [vocab, d_model]), `layers` pre-norm
transformer blocks (blocks.{i}.*: RMSNorm, multi-head attention with RoPE, SwiGLU MLP) and a
final RMSNorm (norm.weight), as docs/model-architecture.md defines them. The weights come from a
.safetensors file whose tensors are all `dtype` (relative paths: against the graph file), or
"random:SEED". Runs on a cpu device; with bf16 the products take bf16 inputs and accumulate in
f32. An id outside the vocabulary is an error.

    [stages.text]
    type = "text_encoder"
    weights = "models/text_encoder.safetensors"
    dtype = "bf16"
    vocab = 50257
    d_model = 512
    layers = 8
    heads = 8
    d_ff = 2048
    inputs.in = "tokens.out")";
  spec.inputs = {{"in", "\"tokens\" i64 or i32 [T]", {std::nullopt, 1}}};
  spec.outputs = {{"out", "\"data\" f32 [T, d_model], the input's metadata", {dtype::f32, 2}}};
  spec.params = encoder_params();
  spec.params.insert(spec.params.begin() + 2,
                     integer_param("vocab", 512, "rows of the embedding table", 1));
  spec.device_kinds = {"cpu"};
  spec.make = [] { return std::make_unique<text_encoder>(); };
  spec.infer = [](const param_values& p, const std::vector<port_type>& inputs) {
    port_type out{dtype::f32, 2, std::nullopt};
    if (auto tokens = known_tokens(inputs.at(0))) out.shape = dims{*tokens, p.integer("d_model")};
    return std::vector<port_type>{out};
  };
  spec.estimate = [](const param_values& p, const std::vector<port_type>& inputs) {
    const double tokens =
        static_cast<double>(known_tokens(inputs.at(0)).value_or(typical_text_tokens));
    const std::size_t table = static_cast<std::size_t>(p.integer("vocab") * p.integer("d_model")) * 4;
    return stage_cost{trunk_flops(p, tokens), trunk_weight_bytes(p) + table};
  };
  return spec;
}

}  // namespace loom
