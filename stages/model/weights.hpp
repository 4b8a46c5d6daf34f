// The weights a model stage runs with, from its `weights` parameter: either a .safetensors file,
// memory-mapped without copying (stages/model/safetensors.hpp), or "random:SEED", deterministic
// random tensors for benchmarks and smoke tests where no trained weights exist. The stage says
// which tensors it needs (name, dtype, shape); a file must hold each of them exactly, and what
// does not match is one error that names the file, the tensor, what was expected and what was
// found, with close names offered for a missing one.
//
//   auto w = weights::open(ctx.params().string("weights"), {
//       {"embed.weight", dtype::f32, {vocab, d_model}},
//       {"norm.weight", dtype::f32, {d_model}, weight_fill::ones},
//       {"proj.weight", dtype::bf16, {d_model, d_ff}, weight_fill::uniform, d_model}});
//   const tensor& embed = w.get("embed.weight");
//
// Random weights: each tensor has its own generator, mt19937_64 seeded from SEED and the tensor's
// name (so a tensor's values do not depend on which other tensors the model asks for), drawing
// 24-bit integers scaled to the uniform range ±1/sqrt(fan_in) (the matmul stage's recipe),
// rounded to the tensor's dtype: the same bytes on every machine. fan_in follows PyTorch's
// convention for weights stored [out, in, ...kernel] — every dimension but the first multiplied
// together; for one dimension, its size — unless the stage gives it (a weight stored [in, out]
// gives fan_in = in). Integer tensors are zeros under `uniform`.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "devices/device.hpp"
#include "devices/tensor.hpp"

namespace loom {

// What "random:SEED" puts in a tensor; files are read as they are.
enum class weight_fill {
  uniform,  // ±1/sqrt(fan_in): projections, embeddings, convolutions
  ones,     // norm scales
  zeros,    // biases, where a stage wants them neutral
};

// One tensor a model needs.
struct weight_spec {
  std::string name;
  dtype type = dtype::f32;
  shape_t shape;
  weight_fill fill = weight_fill::uniform;
  std::int64_t fan_in = 0;  // for `uniform`; 0: from the shape, as above
};

class weights {
 public:
  // `spec` is a .safetensors path or "random:SEED". Throws std::runtime_error for a file that
  // does not hold the expected tensors (or is not a valid safetensors file), and
  // std::invalid_argument for a malformed "random:" spec or a list that names a tensor twice.
  static weights open(const std::string& spec, const std::vector<weight_spec>& expected);

  // The spec it was opened from: a path or "random:SEED".
  const std::string& source() const { return source_; }
  bool contains(std::string_view name) const;
  // A tensor the model asked for; throws std::out_of_range for any other name.
  const tensor& get(std::string_view name) const;
  // The tensors in the file the model did not ask for, in file order; none for random weights.
  const std::vector<std::string>& unused() const { return unused_; }
  // Bytes of all the tensors the model asked for.
  std::size_t bytes() const;

  // The memory space the tensors are in: "cpu" until `to_device`.
  const std::string& memory_space() const { return device_->memory_space(); }
  // Moves every tensor into `to`'s memory (loom::transfer); host tensors that were views of a
  // file let it go. Nothing moves when `to` shares the current memory space.
  void to_device(device& to);

 private:
  std::string source_;
  std::map<std::string, tensor, std::less<>> tensors_;
  std::vector<std::string> unused_;
  device* device_ = &host_device();
};

// The seed of a "random:SEED" spec; none for anything else (a path). Throws
// std::invalid_argument when the spec starts with "random:" but SEED is not a decimal integer.
std::optional<std::uint64_t> random_weights_seed(std::string_view spec);

}  // namespace loom
