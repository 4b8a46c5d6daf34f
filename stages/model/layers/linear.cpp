// The linear layer (see linear.hpp): one device gemm per call, then the bias added row by row.
#include "stages/model/layers/linear.hpp"

#include <cstring>
#include <stdexcept>

#include <fmt/format.h>

#include "devices/transfer.hpp"
#include "stages/model/layers/widen.hpp"

namespace loom {
namespace {

const tensor& checked_weight(const weights& w, const std::string& prefix) {
  const tensor& weight = w.get(prefix + ".weight");
  if (weight.rank() != 2 || !weight.is_contiguous() ||
      (weight.type() != dtype::f32 && weight.type() != dtype::bf16))
    throw std::invalid_argument(fmt::format(
        "linear \"{}\": the weight must be a dense f32 or bf16 [in, out] matrix, found {} {}",
        prefix, name_of(weight.type()), to_string(weight.shape())));
  return weight;
}

tensor host_vector(const std::vector<float>& values) {
  tensor t = host_device().allocate_tensor(dtype::f32, {static_cast<std::int64_t>(values.size())});
  std::copy(values.begin(), values.end(), t.data<float>());
  return t;
}

std::vector<float> bias_or_zeros(const weights& w, const std::string& prefix, std::int64_t out) {
  const std::string name = prefix + ".bias";
  if (!w.contains(name)) return std::vector<float>(static_cast<std::size_t>(out), 0.0f);
  auto bias = widen_to_f32(w.get(name));
  if (static_cast<std::int64_t>(bias.size()) != out)
    throw std::invalid_argument(fmt::format("linear \"{}\": the bias has {} elements, the weight {} "
                                            "outputs", prefix, bias.size(), out));
  return bias;
}

}  // namespace

std::vector<weight_spec> linear::specs(const std::string& prefix, std::int64_t in,
                                       std::int64_t out, bool has_bias, dtype type) {
  std::vector<weight_spec> specs{{prefix + ".weight", type, {in, out}, weight_fill::uniform, in}};
  if (has_bias) specs.push_back({prefix + ".bias", type, {out}, weight_fill::uniform, in});
  return specs;
}

linear::linear(const weights& w, const std::string& prefix) {
  weight_ = checked_weight(w, prefix);
  in_ = weight_.shape()[0];
  out_ = weight_.shape()[1];
  if (w.contains(prefix + ".bias")) bias_ = host_vector(bias_or_zeros(w, prefix, out_));
}

linear::linear(const weights& w, const std::vector<std::string>& prefixes) {
  if (prefixes.empty()) throw std::invalid_argument("linear: fusing needs at least one layer");
  const tensor& first = checked_weight(w, prefixes.front());
  in_ = first.shape()[0];
  bool any_bias = false;
  std::vector<float> bias;
  for (const auto& prefix : prefixes) {
    const tensor& part = checked_weight(w, prefix);
    if (part.shape()[0] != in_ || part.type() != first.type())
      throw std::invalid_argument(fmt::format(
          "linear: cannot fuse \"{}\" ({} {}) with \"{}\" ({} {}): the inputs and dtypes must "
          "match",
          prefix, name_of(part.type()), to_string(part.shape()), prefixes.front(),
          name_of(first.type()), to_string(first.shape())));
    out_ += part.shape()[1];
    any_bias = any_bias || w.contains(prefix + ".bias");
  }
  weight_ = tensor::zeros(first.type(), {in_, out_});
  const std::size_t element = size_of(first.type());
  std::int64_t column = 0;
  for (const auto& prefix : prefixes) {
    const tensor& part = w.get(prefix + ".weight");
    const std::int64_t width = part.shape()[1];
    for (std::int64_t r = 0; r < in_; ++r)
      std::memcpy(weight_.raw() + (r * out_ + column) * element, part.raw() + r * width * element,
                  static_cast<std::size_t>(width) * element);
    if (any_bias) {
      auto part_bias = bias_or_zeros(w, prefix, width);
      bias.insert(bias.end(), part_bias.begin(), part_bias.end());
    }
    column += width;
  }
  if (any_bias) bias_ = host_vector(bias);
}

void linear::to_device(device& dev) {
  // Both copies first, so that a failure leaves the layer as it was.
  tensor weight = transfer(weight_, host_device(), dev);
  tensor bias = has_bias() ? transfer(bias_, host_device(), dev) : tensor();
  weight_ = std::move(weight);
  bias_ = std::move(bias);
  x16_ = buffer();
}

void linear::forward(device& dev, const float* x, std::int64_t rows, std::int64_t ldx, float* y,
                     std::int64_t ldy, bool accumulate) {
  if (weight_.device() != dev.memory_space())
    throw std::invalid_argument(fmt::format(
        "linear [{}, {}]: the weight is in memory space '{}' but the product runs on device '{}' "
        "('{}'); move the layer there first with linear::to_device",
        in_, out_, weight_.device(), dev.name(), dev.memory_space()));
  gemm_args args;
  args.type = weight_.type();
  args.m = rows, args.n = out_, args.k = in_;
  args.b = weight_.raw(), args.ldb = out_;
  args.c = reinterpret_cast<std::byte*>(y), args.ldc = ldy;
  args.beta = accumulate ? 1.0f : 0.0f;
  if (weight_.type() == dtype::bf16) {
    const auto needed = static_cast<std::size_t>(rows * in_) * sizeof(std::uint16_t);
    // Row counts vary from call to call: room to spare, so that the next calls fit.
    if (x16_.size() < needed) x16_ = dev.allocate(needed + needed / 4);
    auto* x16 = reinterpret_cast<std::uint16_t*>(x16_.data());
    dev.to_bf16(x, rows, in_, ldx, x16);
    args.a = reinterpret_cast<const std::byte*>(x16), args.lda = in_;
  } else {
    args.a = reinterpret_cast<const std::byte*>(x), args.lda = ldx;
  }
  dev.gemm(args);
  if (has_bias()) dev.add_row_bias(y, rows, out_, ldy, bias_.data<float>());
}

}  // namespace loom
