// Rotary position embedding, rotate-half form (as Hugging Face Llama), exactly as
// docs/model-architecture.md gives it: token p (0, 1, 2, … in row order), pair j < head_dim/2,
// angle p · theta^(−2j/head_dim);
//   y[j] = x[j]·cos − x[j + hd/2]·sin,   y[j + hd/2] = x[j + hd/2]·cos + x[j]·sin.
// The cos/sin values are computed once into a table (in double, then rounded), so applying RoPE
// is a multiply-add per element with no transcendental calls.
#pragma once

#include <cstdint>
#include <vector>

namespace loom::kernels {

class rope_table {
 public:
  rope_table() = default;
  // A table for positions 0 … tokens_max−1 of heads of `head_dim` (even) floats.
  rope_table(std::int64_t tokens_max, std::int64_t head_dim, double theta = 10000.0);

  std::int64_t tokens_max() const { return tokens_max_; }
  std::int64_t head_dim() const { return head_dim_; }

  // Extends the table to at least `tokens` positions (reallocates only when it grows).
  void reserve(std::int64_t tokens);

  // Rotates, in place, `tokens` rows of `heads` heads of head_dim floats each; row t (position
  // t) starts at x + t·ld (ld ≥ heads·head_dim). Throws std::out_of_range when tokens >
  // tokens_max (call `reserve` first).
  void apply(float* x, std::int64_t tokens, std::int64_t heads, std::int64_t ld) const;

 private:
  std::int64_t tokens_max_ = 0;
  std::int64_t head_dim_ = 0;
  double theta_ = 10000.0;
  std::vector<float> cos_;  // [tokens_max, head_dim/2]
  std::vector<float> sin_;
};

}  // namespace loom::kernels
