// concat_rows: joins two [rows, d] tensors along their rows, the first input's rows first: the
// way a multimodal model puts its text, image and video tokens into one sequence. Chain two for
// three inputs.
//
//   [stages.prefix]
//   type = "concat_rows"
//   inputs.first = "text.out"
//   inputs.second = "vision.out"
//
// The inputs are taken together by sequence number (one packet from each); each holds "data"
// (or one tensor), f32 [rows, d] with the same d. The output "data" is f32 [rows₁ + rows₂, d]
// with the first packet's identity and the metadata of both (the first's wins on a clash).
#include <cstring>
#include <stdexcept>

#include <fmt/format.h>

#include "stages/registry.hpp"

namespace loom {
namespace {

const tensor& rows_of(const packet& p, std::string_view port, const std::string& stage) {
  const tensor* t = p.find("data");
  if (t == nullptr && p.tensors.size() == 1) t = &p.tensors.front().value;
  if (t == nullptr)
    throw std::invalid_argument(fmt::format(
        "concat_rows '{}': the packet on '{}' has {} tensors and none is called \"data\"", stage,
        port, p.tensors.size()));
  if (t->type() != dtype::f32 || t->rank() != 2 || t->strides()[1] != 1)
    throw std::invalid_argument(fmt::format(
        "concat_rows '{}': the tensor on '{}' must be f32 [rows, d] with dense rows, got {} {}",
        stage, port, name_of(t->type()), to_string(t->shape())));
  return *t;
}

class concat_rows final : public stage {
 public:
  void process(stage_context& ctx) override {
    const packet& first = ctx.input("first");
    const packet& second = ctx.input("second");
    const tensor& a = rows_of(first, "first", ctx.name());
    const tensor& b = rows_of(second, "second", ctx.name());
    const auto d = a.shape()[1];
    if (b.shape()[1] != d)
      throw std::invalid_argument(fmt::format(
          "concat_rows '{}': 'first' has rows of {} and 'second' rows of {}; both inputs need "
          "the same width (the same d_model)",
          ctx.name(), d, b.shape()[1]));
    tensor out = ctx.device().allocate_tensor(dtype::f32, {a.shape()[0] + b.shape()[0], d});
    copy_rows(a, out.data<float>());
    copy_rows(b, out.data<float>() + a.shape()[0] * d);
    packet result = first.derive();
    for (const auto& entry : second.metadata)
      if (first.meta(entry.first) == nullptr) result.metadata.push_back(entry);
    result.set("data", std::move(out));
    ctx.emit("out", std::move(result));
  }

 private:
  static void copy_rows(const tensor& t, float* to) {
    const auto rows = t.shape()[0], d = t.shape()[1];
    for (std::int64_t r = 0; r < rows; ++r)
      std::memcpy(to + r * d, t.data<float>() + r * t.strides()[0], static_cast<std::size_t>(d) * 4);
  }
};

std::optional<dims> joined_shape(const std::vector<port_type>& inputs) {
  const auto& a = inputs.at(0).shape;
  const auto& b = inputs.at(1).shape;
  if (!a || !b || a->size() != 2 || b->size() != 2) return std::nullopt;
  return dims{(*a)[0] + (*b)[0], (*a)[1]};
}

}  // namespace

stage_spec concat_rows_spec() {
  stage_spec spec;
  spec.type = "concat_rows";
  spec.summary = "Joins two [rows, d] tensors along their rows (token sequences of two encoders)";
  spec.doc = R"(Joins the "data" rows of two inputs, taken together by sequence number, into one
f32 [rows1 + rows2, d] tensor, the first input's rows first: how the text, image and video tokens
of a multimodal model become one sequence. Chain two stages for three inputs.

    [stages.prefix]
    type = "concat_rows"
    inputs.first = "text.out"
    inputs.second = "vision.out")";
  spec.inputs = {{"first", "f32 [rows1, d] (\"data\" or the only tensor)", {dtype::f32, 2}},
                 {"second", "f32 [rows2, d]", {dtype::f32, 2}}};
  spec.outputs = {{"out", "f32 [rows1 + rows2, d] \"data\"", {dtype::f32, 2}}};
  spec.make = [] { return std::make_unique<concat_rows>(); };
  spec.infer = [](const param_values&, const std::vector<port_type>& inputs) {
    return std::vector<port_type>{{dtype::f32, 2, joined_shape(inputs)}};
  };
  return spec;
}

}  // namespace loom
