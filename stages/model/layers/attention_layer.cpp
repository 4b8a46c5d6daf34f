// The attention half of a transformer block (see attention_layer.hpp): one fused q|k|v product,
// RoPE on q and k, kernels::attention, the output projection.
#include "stages/model/layers/attention_layer.hpp"

#include <stdexcept>

#include <fmt/format.h>

#include "stages/model/kernels/attention.hpp"

namespace loom {
namespace {

// Positions the RoPE table covers from the start; it grows for longer inputs.
constexpr std::int64_t initial_positions = 256;

std::int64_t head_dim_of(std::int64_t d_model, std::int64_t heads) {
  if (heads <= 0 || d_model <= 0 || d_model % heads != 0 || (d_model / heads) % 2 != 0)
    throw std::invalid_argument(fmt::format(
        "d_model = {} must split into heads = {} heads of an even size (RoPE rotates pairs)",
        d_model, heads));
  return d_model / heads;
}

}  // namespace

std::vector<weight_spec> attention_layer::specs(const std::string& prefix, std::int64_t d_model,
                                                std::int64_t heads, dtype type) {
  head_dim_of(d_model, heads);
  std::vector<weight_spec> specs;
  for (const char* part : {".q", ".k", ".v", ".o"}) {
    auto one = linear::specs(prefix + part, d_model, d_model, false, type);
    specs.insert(specs.end(), one.begin(), one.end());
  }
  return specs;
}

attention_layer::attention_layer(const weights& w, const std::string& prefix, std::int64_t heads)
    : qkv_(w, {prefix + ".q", prefix + ".k", prefix + ".v"}), o_(w, prefix + ".o"), heads_(heads) {
  head_dim_ = head_dim_of(o_.out(), heads);
  if (qkv_.in() != o_.out() || qkv_.out() != 3 * o_.out() || o_.in() != o_.out())
    throw std::invalid_argument(fmt::format(
        "attention \"{}\": q, k, v and o must all be [d, d]; found q|k|v [{}, {}] and o [{}, {}]",
        prefix, qkv_.in(), qkv_.out(), o_.in(), o_.out()));
  rope_ = kernels::rope_table(initial_positions, head_dim_);
}

void attention_layer::forward(device& dev, const float* h, std::int64_t tokens, float* out,
                              bool accumulate) {
  const std::int64_t d = d_model();
  auto grow = [](std::vector<float>& v, std::int64_t n) {
    if (static_cast<std::int64_t>(v.size()) < n) v.resize(static_cast<std::size_t>(n));
  };
  grow(qkv_rows_, tokens * 3 * d);
  grow(mixed_, tokens * d);
  grow(scratch_, kernels::attention_scratch_floats(tokens, heads_, head_dim_));
  rope_.reserve(tokens);

  float* q = qkv_rows_.data();
  float* k = q + d;
  float* v = q + 2 * d;
  qkv_.forward(dev, h, tokens, d, q, 3 * d);
  rope_.apply(q, tokens, heads_, 3 * d);
  rope_.apply(k, tokens, heads_, 3 * d);
  kernels::attention(dev, q, 3 * d, k, 3 * d, v, 3 * d, mixed_.data(), d, tokens, heads_,
                     head_dim_, scratch_.data());
  o_.forward(dev, mixed_.data(), tokens, d, out, d, accumulate);
}

}  // namespace loom
