// The encoders' shared stage code (see encoder_stage.hpp).
#include "stages/model/encoder_stage.hpp"

#include <stdexcept>

#include <fmt/format.h>

#include "stages/input_path.hpp"

namespace loom {

std::vector<param_spec> encoder_params() {
  return {
      string_param("weights", "random:0",
                   "a .safetensors file (relative: against the graph file) or \"random:SEED\""),
      string_param("dtype", "f32", "the dtype of every tensor in the weights file",
                   {"f32", "bf16"}),
      integer_param("d_model", 64, "width of the token rows", 2),
      integer_param("layers", 2, "transformer blocks", 0),
      integer_param("heads", 4, "attention heads; d_model/heads must be even", 1),
      integer_param("d_ff", 128, "hidden width of each block's SwiGLU MLP", 1),
  };
}

encoder_sizes read_encoder_sizes(const param_values& p, const std::string& label) {
  encoder_sizes sizes;
  sizes.d_model = p.integer("d_model");
  sizes.layers = p.integer("layers");
  sizes.heads = p.integer("heads");
  sizes.d_ff = p.integer("d_ff");
  sizes.type = p.string("dtype") == "bf16" ? dtype::bf16 : dtype::f32;
  if (sizes.d_model % sizes.heads != 0 || (sizes.d_model / sizes.heads) % 2 != 0)
    throw std::invalid_argument(fmt::format(
        "{}: d_model = {} must split into heads = {} heads of an even size (RoPE rotates pairs); "
        "change d_model or heads",
        label, sizes.d_model, sizes.heads));
  return sizes;
}

double trunk_flops(const param_values& p, double tokens) {
  const double d = static_cast<double>(p.integer("d_model"));
  const double ff = static_cast<double>(p.integer("d_ff"));
  const double layers = static_cast<double>(p.integer("layers"));
  const double projections = 2.0 * tokens * (4.0 * d * d + 3.0 * d * ff);
  const double scores = 4.0 * tokens * tokens * d;
  return layers * (projections + scores);
}

std::size_t trunk_weight_bytes(const param_values& p) {
  const auto d = static_cast<std::size_t>(p.integer("d_model"));
  const auto ff = static_cast<std::size_t>(p.integer("d_ff"));
  const auto layers = static_cast<std::size_t>(p.integer("layers"));
  const std::size_t element = p.string("dtype") == "bf16" ? 2 : 4;
  return (layers * (4 * d * d + 3 * d * ff + 2 * d) + d) * element;
}

std::string stage_label(const stage_context& ctx) {
  return fmt::format("{} '{}'", ctx.spec().type, ctx.name());
}

namespace {

void normalize_pixels(const tensor& pixels, const std::string& label, std::vector<float>& out) {
  if (!pixels.is_contiguous())
    throw std::invalid_argument(fmt::format("{}: the pixels {} are not dense", label,
                                            to_string(pixels.shape())));
  const auto n = static_cast<std::size_t>(pixels.numel());
  out.resize(n);
  if (pixels.type() == dtype::u8) {
    const auto* in = pixels.data<const std::uint8_t>();
    for (std::size_t i = 0; i < n; ++i) out[i] = 2.0f * (static_cast<float>(in[i]) / 255.0f) - 1.0f;
  } else if (pixels.type() == dtype::f32) {
    const auto* in = pixels.data<const float>();
    for (std::size_t i = 0; i < n; ++i) out[i] = 2.0f * in[i] - 1.0f;
  } else {
    throw std::invalid_argument(fmt::format(
        "{}: the pixels are {}; it takes u8 (0…255) or f32 (0…1)", label, name_of(pixels.type())));
  }
}

}  // namespace

void require_multiple(const param_values& p, const char* whole, const char* part,
                      const std::string& label) {
  if (p.integer(whole) % p.integer(part) != 0)
    throw std::invalid_argument(fmt::format("{}: {} = {} is not a multiple of {} = {}", label, whole,
                                            p.integer(whole), part, p.integer(part)));
}

std::vector<weight_spec> patch_embedding::specs(const std::string& prefix,
                                                const kernels::patch_layout& layout,
                                                const encoder_sizes& sizes) {
  return linear::specs(prefix, layout.token_size(), sizes.d_model, true, sizes.type);
}

patch_embedding::patch_embedding(const weights& w, const std::string& prefix,
                                 const kernels::patch_layout& layout)
    : layout_(layout), projection_(w, prefix) {
  layout_.check();
}

std::int64_t patch_embedding::forward(device& dev, const tensor& pixels, const std::string& label,
                                      std::vector<float>& x) {
  normalize_pixels(pixels, label, pixels_);
  const std::int64_t tokens = layout_.tokens(), size = layout_.token_size();
  patches_.resize(static_cast<std::size_t>(tokens * size));
  kernels::patchify(pixels_.data(), patches_.data(), layout_);
  x.resize(static_cast<std::size_t>(tokens * projection_.out()));
  projection_.forward(dev, patches_.data(), tokens, size, x.data(), projection_.out());
  return tokens;
}

void encoder_stage::open(stage_context& ctx) {
  label_ = stage_label(ctx);
  sizes_ = read_encoder_sizes(ctx.params(), label_);
  auto expected = embedding_specs(ctx.params(), sizes_);
  auto trunk = encoder_trunk::specs(sizes_.d_model, sizes_.layers, sizes_.heads, sizes_.d_ff,
                                    sizes_.type);
  expected.insert(expected.end(), trunk.begin(), trunk.end());
  const auto w = weights::open(input_path(ctx.params().string("weights"), ctx.run()), expected);
  trunk_ = encoder_trunk(w, sizes_.layers, sizes_.heads);
  load_embedding(w, ctx);
}

void encoder_stage::process(stage_context& ctx) {
  auto& dev = ctx.device();
  const std::int64_t tokens = embed(dev, ctx.input(), x_);
  tensor out = dev.allocate_tensor(dtype::f32, {tokens, sizes_.d_model});
  trunk_.forward(dev, x_.data(), tokens, out.data<float>());
  packet result = ctx.input().derive();
  result.tensors.push_back({"data", std::move(out)});
  ctx.emit("out", std::move(result));
}

}  // namespace loom
