// video_encoder: a clip of RGB frames to one f32 row per tubelet (docs/model-architecture.md) —
// pixels mapped to [−1, 1], tubelets of `tubelet` frames × one patch, ordered (time, patch row,
// patch column) and projected by tubelet_embed, `layers` pre-norm transformer blocks and a final
// RMSNorm. It runs on the cpu device's matrix product; the video side of a multimodal pipeline.
//
//   [stages.clip_encoder]
//   type = "video_encoder"
//   weights = "models/video_encoder.safetensors"   # or "random:SEED"
//   dtype = "bf16"
//   frames = 8                                     # frames per clip
//   tubelet = 2                                    # frames per token
//   image_size = 112
//   patch = 16                                     # → 4 · 49 = 196 tokens
//   d_model = 384
//   layers = 6
//   heads = 6
//   d_ff = 1536
//   inputs.in = "video.out"       # a video_source with clip = 8, width = height = 112
//
// The input's "frames" is [frames, image_size, image_size, 3], u8 or f32 in [0, 1]; the output
// "data" is f32 [(frames/tubelet)·(image_size/patch)², d_model] with the input's metadata.
#include <fmt/format.h>

#include <stdexcept>

#include "stages/model/encoder_stage.hpp"
#include "stages/registry.hpp"

namespace loom {
namespace {

kernels::patch_layout clip_layout(const param_values& p) {
  kernels::patch_layout layout;
  layout.frames = p.integer("frames");
  layout.height = layout.width = p.integer("image_size");
  layout.channels = 3;
  layout.patch = p.integer("patch");
  layout.tubelet = p.integer("tubelet");
  return layout;
}

class video_encoder final : public encoder_stage {
 protected:
  std::vector<weight_spec> embedding_specs(const param_values& p,
                                           const encoder_sizes& sizes) const override {
    require_multiple(p, "image_size", "patch", label());
    require_multiple(p, "frames", "tubelet", label());
    return patch_embedding::specs("tubelet_embed", clip_layout(p), sizes);
  }

  void load_embedding(const weights& w, const stage_context& ctx) override {
    layout_ = clip_layout(ctx.params());
    embedding_ = patch_embedding(w, "tubelet_embed", layout_);
  }

  std::int64_t embed(device& dev, const packet& input, std::vector<float>& x) override {
    const tensor* clip = input.find("frames");
    if (!clip)
      throw std::invalid_argument(fmt::format(
          "{}: the input packet has no \"frames\" tensor (connect a video_source with clip = {})",
          label(), layout_.frames));
    if (clip->rank() != 4 || clip->shape()[3] != 3)
      throw std::invalid_argument(fmt::format(
          "{}: \"frames\" must be RGB [frames, H, W, 3], got {}", label(),
          to_string(clip->shape())));
    if (clip->shape()[0] != layout_.frames)
      throw std::invalid_argument(fmt::format(
          "{}: the clip has {} frames; this encoder takes {} (set frames, or video_source's clip "
          "= {}; a stream's last clip may be shorter)",
          label(), clip->shape()[0], layout_.frames, layout_.frames));
    if (clip->shape()[1] != layout_.height || clip->shape()[2] != layout_.width)
      throw std::invalid_argument(fmt::format(
          "{}: the frames are {}×{}; this encoder takes {}×{} (set image_size, or resize with "
          "video_source's width/height)",
          label(), clip->shape()[2], clip->shape()[1], layout_.width, layout_.height));
    return embedding_.forward(dev, *clip, label(), x);
  }

 private:
  kernels::patch_layout layout_;
  patch_embedding embedding_;
};

std::int64_t clip_tokens(const param_values& p) {
  const std::int64_t side = p.integer("image_size") / p.integer("patch");
  return p.integer("frames") / p.integer("tubelet") * side * side;
}

}  // namespace

stage_spec video_encoder_spec() {
  stage_spec spec;
  spec.type = "video_encoder";
  spec.summary = "A clip of RGB frames to f32 tubelet rows: tubelet embedding, transformer blocks";
  spec.doc = R"(Encodes each input's "frames" ([frames, image_size, image_size, 3], u8 or f32 in
[0, 1], as video_source emits with clip = frames) into "data", f32
[(frames/tubelet)·(image_size/patch)², d_model]. Pixels are mapped to 2·p − 1 and cut into
tubelets — `tubelet` consecutive frames × one patch×patch square — ordered (time, patch row,
patch column), each a vector in (t, py, px, c) order projected by tubelet_embed.weight
[tubelet·patch²·3, d_model] + tubelet_embed.bias; then `layers` pre-norm transformer blocks
(blocks.{i}.*: RMSNorm, multi-head attention with RoPE over the tubelet order, SwiGLU MLP) and a
final RMSNorm (norm.weight), as docs/model-architecture.md defines them. The weights come from a
.safetensors file whose tensors are all `dtype` (relative paths: against the graph file), or
"random:SEED". Runs on a cpu device. A clip of another length or frame size is an error.

    [stages.clip_encoder]
    type = "video_encoder"
    weights = "models/video_encoder.safetensors"
    dtype = "bf16"
    frames = 8
    tubelet = 2
    image_size = 112
    patch = 16
    d_model = 384
    layers = 6
    heads = 6
    d_ff = 1536
    inputs.in = "video.out")";
  spec.inputs = {
      {"in", "\"frames\" u8 or f32 [frames, image_size, image_size, 3]", {std::nullopt, 4}}};
  spec.outputs = {{"out",
                   "\"data\" f32 [(frames/tubelet)·(image_size/patch)², d_model], the input's "
                   "metadata",
                   {dtype::f32, 2}}};
  spec.params = encoder_params();
  spec.params.insert(
      spec.params.begin() + 2,
      {integer_param("frames", 4, "frames per input clip", 1),
       integer_param("tubelet", 2, "consecutive frames per token; divides frames", 1),
       integer_param("image_size", 32, "height and width of each frame", 1),
       integer_param("patch", 8, "side of a square patch; divides image_size", 1)});
  spec.device_kinds = {"cpu"};
  spec.make = [] { return std::make_unique<video_encoder>(); };
  spec.infer = [](const param_values& p, const std::vector<port_type>&) {
    return std::vector<port_type>{{dtype::f32, 2, dims{clip_tokens(p), p.integer("d_model")}}};
  };
  spec.estimate = [](const param_values& p, const std::vector<port_type>&) {
    const double tokens = static_cast<double>(clip_tokens(p));
    const double tubelet_size =
        static_cast<double>(p.integer("tubelet") * p.integer("patch") * p.integer("patch") * 3);
    const double d = static_cast<double>(p.integer("d_model"));
    const std::size_t element = p.string("dtype") == "bf16" ? 2 : 4;
    const auto embed_bytes = static_cast<std::size_t>((tubelet_size + 1) * d) * element;
    return stage_cost{2.0 * tokens * tubelet_size * d + trunk_flops(p, tokens),
                      trunk_weight_bytes(p) + embed_bytes};
  };
  return spec;
}

}  // namespace loom
