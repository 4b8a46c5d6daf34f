// scale: multiplies every element of the packet's "data" tensor by `factor`. The result goes to a
// new buffer, because packets are immutable and the input may be shared with other consumers;
// the packet's other tensors and its metadata travel on unchanged, without copies.
//
//   [plugins]
//   paths = ["build/libloom_scale.so"]
//
//   [stages.gain]
//   type = "scale"
//   factor = 1.5
//   inputs.in = "src.out"
//
// Element types: f32 is multiplied in single precision. u8 is rounded to the nearest integer
// (halves to even) and saturated to [0, 255], as pixel data expects: 200 * 1.5 gives 255, and
// a negative factor gives 0. Any other type fails that packet with an error.
//
// This file is also the example of a plugin: a shared library built out of tree against an
// installed loom (see README.md), whose LOOM_PLUGIN line at the bottom is its entry point.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "stages/plugin.hpp"

namespace loom {
namespace {

// Calls `visit(offset)` for every element of `t` in row-major order, `offset` counted in
// elements from the tensor's first element, so strided views (slices) read correctly too.
template <class Visit>
void for_each_offset(const tensor& t, Visit visit) {
  const auto& shape = t.shape();
  const auto& strides = t.strides();
  std::vector<std::int64_t> index(shape.size(), 0);
  std::int64_t offset = 0;
  for (std::int64_t remaining = t.numel(); remaining > 0; --remaining) {
    visit(offset);
    for (std::size_t d = shape.size(); d-- > 0;) {
      offset += strides[d];
      if (++index[d] < shape[d]) break;
      offset -= strides[d] * shape[d];
      index[d] = 0;
    }
  }
}

// A new dense tensor of the same type, shape and device holding `convert(x)` for every x of `in`.
template <class T, class Convert>
tensor map_elements(const tensor& in, Convert convert) {
  auto out = tensor::zeros(in.type(), in.shape(), in.device());
  const T* source = in.data<T>();
  T* target = out.data<T>();
  for_each_offset(in, [&](std::int64_t offset) { *target++ = convert(source[offset]); });
  return out;
}

class scale final : public stage {
 public:
  void open(stage_context& ctx) override {
    factor_ = ctx.params().number("factor");
    // A NaN or infinite factor has no meaningful u8 result; refuse it before the first packet.
    if (!std::isfinite(factor_)) throw std::invalid_argument("scale: factor must be finite");
  }

  void process(stage_context& ctx) override {
    const packet& in = ctx.input("in");
    packet out = in.derive();
    out.tensors = in.tensors;
    out.set("data", scaled(in.at("data")));
    ctx.emit("out", std::move(out));
  }

 private:
  tensor scaled(const tensor& data) const {
    switch (data.type()) {
      case dtype::f32: {
        auto factor = static_cast<float>(factor_);
        return map_elements<float>(data, [factor](float x) { return x * factor; });
      }
      case dtype::u8:
        return map_elements<std::uint8_t>(data, [this](std::uint8_t x) {
          return static_cast<std::uint8_t>(std::clamp(std::nearbyint(x * factor_), 0.0, 255.0));
        });
      default:
        throw std::invalid_argument("scale: tensor \"data\" is " +
                                    std::string(name_of(data.type())) +
                                    "; scale handles f32 and u8");
    }
  }

  double factor_ = 1.0;
};

stage_spec scale_spec() {
  stage_spec spec;
  spec.type = "scale";
  spec.summary = "Multiplies the \"data\" tensor by a factor into a new buffer (f32, u8)";
  spec.doc = R"(Multiplies every element of the tensor "data" by `factor`, writing a new tensor
(new memory; the input is never modified). Other tensors pass through. f32 is multiplied in
single precision; u8 is rounded to nearest and saturated to [0, 255]; other types are an error.

    [stages.gain]
    type = "scale"
    factor = 1.5
    inputs.in = "src.out")";
  spec.inputs = {{"in", "packets with a tensor \"data\" of f32 or u8", {}}};
  spec.outputs = {{"out", "the same packets with \"data\" scaled", {}}};
  spec.params = {number_param("factor", std::nullopt, "what every element is multiplied by")};
  spec.make = [] { return std::make_unique<scale>(); };
  spec.infer = [](const param_values&, const std::vector<port_type>& inputs) { return inputs; };
  return spec;
}

}  // namespace

void register_scale_stage(stage_registry& registry) { registry.add(scale_spec()); }

}  // namespace loom

LOOM_PLUGIN(loom::register_scale_stage)
