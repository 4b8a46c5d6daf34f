// image_encoder: a ViT that turns an RGB image into one f32 row per patch
// (docs/model-architecture.md) — pixels mapped to [−1, 1], patches in raster order projected by
// patch_embed, `layers` pre-norm transformer blocks and a final RMSNorm. It runs on the cpu
// device's matrix product; the image side of a multimodal pipeline.
//
//   [stages.vision]
//   type = "image_encoder"
//   weights = "models/image_encoder.safetensors"   # or "random:SEED"
//   dtype = "f32"
//   image_size = 224                               # the input must be 224×224
//   patch = 16                                     # → 196 tokens
//   d_model = 384
//   layers = 6
//   heads = 6
//   d_ff = 1536
//   inputs.in = "images.out"                       # an image_source with width = height = 224
//
// The input's "image" is [image_size, image_size, 3], u8 or f32 in [0, 1]; the output "data" is
// f32 [(image_size/patch)², d_model] with the input's metadata.
#include <fmt/format.h>

#include <stdexcept>

#include "stages/model/encoder_stage.hpp"
#include "stages/registry.hpp"

namespace loom {
namespace {

kernels::patch_layout image_layout(const param_values& p) {
  kernels::patch_layout layout;
  layout.height = layout.width = p.integer("image_size");
  layout.channels = 3;
  layout.patch = p.integer("patch");
  return layout;
}

class image_encoder final : public encoder_stage {
 protected:
  std::vector<weight_spec> embedding_specs(const param_values& p,
                                           const encoder_sizes& sizes) const override {
    require_multiple(p, "image_size", "patch", label());
    return patch_embedding::specs("patch_embed", image_layout(p), sizes);
  }

  void load_embedding(const weights& w, const stage_context& ctx) override {
    size_ = ctx.params().integer("image_size");
    embedding_ = patch_embedding(w, "patch_embed", image_layout(ctx.params()));
  }

  std::int64_t embed(device& dev, const packet& input, std::vector<float>& x) override {
    const tensor* image = input.find("image");
    if (!image)
      throw std::invalid_argument(fmt::format(
          "{}: the input packet has no \"image\" tensor (connect an image_source)", label()));
    if (image->rank() != 3 || image->shape()[2] != 3)
      throw std::invalid_argument(fmt::format(
          "{}: \"image\" must be RGB [H, W, 3], got {}", label(), to_string(image->shape())));
    if (image->shape()[0] != size_ || image->shape()[1] != size_)
      throw std::invalid_argument(fmt::format(
          "{}: the image is {}×{}; this encoder takes {}×{} (set image_size, or resize with "
          "image_source's width/height)",
          label(), image->shape()[1], image->shape()[0], size_, size_));
    return embedding_.forward(dev, *image, label(), x);
  }

 private:
  std::int64_t size_ = 0;
  patch_embedding embedding_;
};

std::int64_t image_tokens(const param_values& p) {
  const std::int64_t side = p.integer("image_size") / p.integer("patch");
  return side * side;
}

}  // namespace

stage_spec image_encoder_spec() {
  stage_spec spec;
  spec.type = "image_encoder";
  spec.summary = "An RGB image to f32 patch rows: a ViT (patch embedding, transformer blocks)";
  spec.doc = R"(Encodes each input's "image" ([image_size, image_size, 3], u8 or f32 in [0, 1], as
image_source emits it) into "data", f32 [(image_size/patch)², d_model]. Pixels are mapped to
2·p − 1 and cut into patch×patch patches in raster order, each a vector in (py, px, c) order,
projected by patch_embed.weight [patch²·3, d_model] + patch_embed.bias; then `layers` pre-norm
transformer blocks (blocks.{i}.*: RMSNorm, multi-head attention with RoPE over the patch order,
SwiGLU MLP) and a final RMSNorm (norm.weight), as docs/model-architecture.md defines them. The
weights come from a .safetensors file whose tensors are all `dtype` (relative paths: against the
graph file), or "random:SEED". Runs on a cpu device. An image of another size is an error:
resize it with image_source's width and height.

    [stages.vision]
    type = "image_encoder"
    weights = "models/image_encoder.safetensors"
    dtype = "f32"
    image_size = 224
    patch = 16
    d_model = 384
    layers = 6
    heads = 6
    d_ff = 1536
    inputs.in = "images.out")";
  spec.inputs = {{"in", "\"image\" u8 or f32 [image_size, image_size, 3]", {std::nullopt, 3}}};
  spec.outputs = {{"out", "\"data\" f32 [(image_size/patch)², d_model], the input's metadata",
                   {dtype::f32, 2}}};
  spec.params = encoder_params();
  spec.params.insert(spec.params.begin() + 2,
                     {integer_param("image_size", 32, "height and width of the input image", 1),
                      integer_param("patch", 8, "side of a square patch; divides image_size", 1)});
  spec.device_kinds = {"cpu"};
  spec.make = [] { return std::make_unique<image_encoder>(); };
  spec.infer = [](const param_values& p, const std::vector<port_type>&) {
    return std::vector<port_type>{{dtype::f32, 2, dims{image_tokens(p), p.integer("d_model")}}};
  };
  spec.estimate = [](const param_values& p, const std::vector<port_type>&) {
    const double tokens = static_cast<double>(image_tokens(p));
    const double patch_size = static_cast<double>(p.integer("patch") * p.integer("patch") * 3);
    const double d = static_cast<double>(p.integer("d_model"));
    const std::size_t element = p.string("dtype") == "bf16" ? 2 : 4;
    const auto embed_bytes = static_cast<std::size_t>((patch_size + 1) * d) * element;
    return stage_cost{2.0 * tokens * patch_size * d + trunk_flops(p, tokens),
                      trunk_weight_bytes(p) + embed_bytes};
  };
  return spec;
}

}  // namespace loom
