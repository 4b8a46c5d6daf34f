// matmul: a dense layer, out = in · W, run by its device's matrix product (OpenBLAS on cpu,
// cuBLAS on cuda, the reduced-precision math of an NPU). The weights are generated from a seed
// and copied into the device's memory with the first packet (in its dtype), so each packet
// costs one product and no copy.
// It is the stage the planner and the device benchmarks use to put real compute on a device.
//
//   [stages.project]
//   type = "matmul"
//   device = "npu0"
//   k = 1024              # input features: the last dimension of the input
//   n = 4096              # output features
//   weights = "random:7"  # deterministic weights in [-1/sqrt(k), 1/sqrt(k)]
//   batch = { max = 8, timeout_ms = 5 }   # optional: up to 8 packets per product
//   inputs.in = "src.out"
//
// The input tensor ("data", or the packet's only tensor) is [rows, k] in f32, bf16 or f16; the
// output "data" is [rows, n] in f32, in the stage's device memory.
//
// A product of a few rows costs about as much as one of many (launch, synchronize, the pass over
// the weights), so with `batch` the rows of every packet of a batch are copied into one
// [Σrows, k] matrix on the device, multiplied once, and each packet gets its rows of the one
// output tensor as a view.
#include <cmath>
#include <cstring>
#include <vector>
#include <random>
#include <stdexcept>

#include <fmt/format.h>

#include "devices/float_convert.hpp"
#include "stages/registry.hpp"

namespace loom {
namespace {

std::uint64_t weights_seed(const std::string& spec) {
  constexpr std::string_view prefix = "random:";
  if (spec.rfind(prefix, 0) != 0)
    throw std::invalid_argument(
        fmt::format("weights = \"{}\": only \"random:SEED\" is supported", spec));
  return std::stoull(spec.substr(prefix.size()));
}

// The host bytes of k×n weights in `type`, the same for a seed on every machine.
buffer make_weights(std::uint64_t seed, std::int64_t k, std::int64_t n, dtype type) {
  std::mt19937_64 generator(seed);
  const float bound = 1.0f / std::sqrt(static_cast<float>(k));
  const auto count = static_cast<std::size_t>(k * n);
  auto bytes = buffer::allocate(count * size_of(type));
  for (std::size_t i = 0; i < count; ++i) {
    // Scaled 24-bit integers: exact and identical wherever the library runs.
    float unit = static_cast<float>(generator() >> 40) / static_cast<float>(1 << 24);
    float value = (2.0f * unit - 1.0f) * bound;
    if (type == dtype::f32) {
      std::memcpy(bytes.data() + i * 4, &value, 4);
    } else {
      std::uint16_t half = type == dtype::bf16 ? bf16_from_f32(value) : f16_from_f32(value);
      std::memcpy(bytes.data() + i * 2, &half, 2);
    }
  }
  return bytes;
}

const tensor& input_tensor(const packet& p) {
  if (const auto* data = p.find("data")) return *data;
  if (p.tensors.size() == 1) return p.tensors.front().value;
  throw std::invalid_argument(
      fmt::format("matmul: the input packet has {} tensors and none is called \"data\"",
                  p.tensors.size()));
}

class matmul final : public stage {
 public:
  void open(stage_context& ctx) override {
    k_ = ctx.params().integer("k");
    n_ = ctx.params().integer("n");
    seed_ = weights_seed(ctx.params().string("weights"));
  }

  void process(stage_context& ctx) override { multiply(ctx, 0, 1); }

  // Items with inputs of one dtype share a product; a batch that mixes dtypes takes one per run.
  void process_batch(stage_context& ctx) override {
    for (std::size_t first = 0; first < ctx.batch_size();) {
      const dtype type = input_tensor(ctx.input("in", first)).type();
      std::size_t end = first + 1;
      while (end < ctx.batch_size() && input_tensor(ctx.input("in", end)).type() == type) ++end;
      multiply(ctx, first, end);
      first = end;
    }
  }

 private:
  // One product for the inputs of items [first, end), all of one dtype.
  void multiply(stage_context& ctx, std::size_t first, std::size_t end) {
    std::vector<const tensor*> inputs;
    std::int64_t rows = 0;
    for (std::size_t item = first; item < end; ++item) {
      inputs.push_back(&input_tensor(ctx.input("in", item)));
      check(*inputs.back());
      rows += inputs.back()->shape()[0];
    }
    const dtype type = inputs.front()->type();
    auto& device = ctx.device();
    // The weights follow the input's dtype, so a product never converts on the host.
    if (weights_.numel() == 0 || weights_.type() != type) load_weights(device, type);
    tensor a = inputs.size() == 1 ? *inputs.front() : stacked(device, inputs, rows);
    tensor out = device.allocate_tensor(dtype::f32, {rows, n_});
    device.gemm({type, dtype::f32, rows, n_, k_, a.raw(), a.strides()[0], weights_.raw(), n_,
                 out.raw(), n_});
    device.synchronize();
    std::int64_t at = 0;
    for (std::size_t item = first; item < end; ++item) {
      const std::int64_t item_rows = inputs[item - first]->shape()[0];
      packet result = ctx.input("in", item).derive();
      result.tensors.push_back({"data", out.slice(at, at + item_rows)});
      ctx.emit_item(item, "out", std::move(result));
      at += item_rows;
    }
  }

  // The inputs' rows, one after another, in one dense [rows, k] matrix on the device.
  tensor stacked(device& device, const std::vector<const tensor*>& inputs,
                 std::int64_t rows) const {
    tensor all = device.allocate_tensor(inputs.front()->type(), {rows, k_});
    const std::size_t row_bytes = static_cast<std::size_t>(k_) * size_of(all.type());
    std::byte* to = all.raw();
    for (const tensor* in : inputs) {
      const auto in_rows = static_cast<std::size_t>(in->shape()[0]);
      const auto stride_bytes = static_cast<std::size_t>(in->strides()[0]) * size_of(in->type());
      if (stride_bytes == row_bytes) {
        device.copy_within(in->raw(), to, row_bytes * in_rows);
      } else {
        for (std::size_t r = 0; r < in_rows; ++r)
          device.copy_within(in->raw() + r * stride_bytes, to + r * row_bytes, row_bytes);
      }
      to += row_bytes * in_rows;
    }
    return all;
  }

  void check(const tensor& in) const {
    if (in.rank() != 2 || in.shape()[0] < 1 || in.shape()[1] != k_ || in.strides()[1] != 1)
      throw std::invalid_argument(fmt::format(
          "matmul: expected a [rows, {}] tensor with dense rows, at least one, got {}", k_,
          to_string(in.shape())));
    if (in.type() != dtype::f32 && in.type() != dtype::bf16 && in.type() != dtype::f16)
      throw std::invalid_argument(
          fmt::format("matmul: the input is {}; it takes f32, bf16 or f16", name_of(in.type())));
  }

  void load_weights(device& device, dtype type) {
    auto host = make_weights(seed_, k_, n_, type);
    weights_ = device.allocate_tensor(type, {k_, n_});
    device.copy_from_host(host.data(), weights_.raw(), host.size());
    device.synchronize();
  }

  std::int64_t k_ = 0, n_ = 0;
  std::uint64_t seed_ = 0;
  tensor weights_;
};

std::optional<std::int64_t> known_rows(const port_type& input) {
  if (!input.shape || input.shape->size() != 2) return std::nullopt;
  return (*input.shape)[0];
}

}  // namespace

stage_spec matmul_spec() {
  stage_spec spec;
  spec.type = "matmul";
  spec.summary = "A dense layer, out = in · W, on its device's matrix product";
  spec.doc = R"(Multiplies each input [rows, k] tensor by a k×n weight matrix on the stage's
device: OpenBLAS on cpu, cuBLAS on cuda, reduced precision on an NPU such as emu. The weights
are generated from a seed and copied to the device once, with the first packet. The input may
be f32, bf16 or f16 (the weights take the same type); the output "data" is [rows, n] f32.

    [stages.project]
    type = "matmul"
    device = "npu0"
    k = 1024
    n = 4096
    weights = "random:7"
    inputs.in = "src.out"

With `batch = { max = 8, timeout_ms = 5 }` it multiplies the rows of up to 8 packets in one
product (a copy of their rows into one matrix on the device), which pays off for small products
whose cost is mostly per call.)";
  spec.inputs = {{"in", "[rows, k] f32, bf16 or f16 (\"data\", or the only tensor)", {{}, 2}}};
  spec.outputs = {{"out", "[rows, n] f32 \"data\"", {dtype::f32, 2}}};
  spec.params = {
      integer_param("k", std::nullopt, "input features (the input's last dimension)", 1),
      integer_param("n", std::nullopt, "output features", 1),
      string_param("weights", "random:0", "\"random:SEED\": deterministic random weights"),
  };
  spec.device_kinds = {"cpu", "cuda", "emu"};
  spec.batches = true;
  spec.make = [] { return std::make_unique<matmul>(); };
  spec.infer = [](const param_values& p, const std::vector<port_type>& inputs) {
    port_type out{dtype::f32, 2, std::nullopt};
    if (auto rows = known_rows(inputs.at(0))) out.shape = dims{*rows, p.integer("n")};
    return std::vector<port_type>{out};
  };
  spec.estimate = [](const param_values& p, const std::vector<port_type>& inputs) {
    const double k = static_cast<double>(p.integer("k"));
    const double n = static_cast<double>(p.integer("n"));
    const double rows = static_cast<double>(known_rows(inputs.at(0)).value_or(1));
    const std::size_t element = inputs.at(0).type ? size_of(*inputs.at(0).type) : 4;
    return stage_cost{2.0 * rows * k * n, static_cast<std::size_t>(k * n) * element};
  };
  return spec;
}

}  // namespace loom
