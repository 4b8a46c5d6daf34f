// The RoPE table and its application (see rope.hpp).
#include "stages/model/kernels/rope.hpp"

#include <cmath>
#include <stdexcept>

#include <fmt/format.h>

namespace loom::kernels {
namespace {

[[gnu::target_clones("arch=x86-64-v3", "default")]]
void rotate(float* x, std::int64_t tokens, std::int64_t heads, std::int64_t head_dim,
            std::int64_t ld, const float* cos_table, const float* sin_table) {
  const std::int64_t half = head_dim / 2;
  for (std::int64_t t = 0; t < tokens; ++t) {
    const float* c = cos_table + t * half;
    const float* s = sin_table + t * half;
    for (std::int64_t h = 0; h < heads; ++h) {
      float* lo = x + t * ld + h * head_dim;
      float* hi = lo + half;
      for (std::int64_t j = 0; j < half; ++j) {
        const float a = lo[j], b = hi[j];
        lo[j] = a * c[j] - b * s[j];
        hi[j] = b * c[j] + a * s[j];
      }
    }
  }
}

}  // namespace

rope_table::rope_table(std::int64_t tokens_max, std::int64_t head_dim, double theta)
    : head_dim_(head_dim), theta_(theta) {
  if (head_dim <= 0 || head_dim % 2 != 0)
    throw std::invalid_argument(
        fmt::format("rope: head_dim must be a positive even number, got {}", head_dim));
  reserve(tokens_max);
}

void rope_table::reserve(std::int64_t tokens) {
  if (tokens <= tokens_max_) return;
  const std::int64_t half = head_dim_ / 2;
  cos_.resize(static_cast<std::size_t>(tokens * half));
  sin_.resize(static_cast<std::size_t>(tokens * half));
  for (std::int64_t p = tokens_max_; p < tokens; ++p)
    for (std::int64_t j = 0; j < half; ++j) {
      const double angle = static_cast<double>(p) *
                           std::pow(theta_, -2.0 * static_cast<double>(j) /
                                                static_cast<double>(head_dim_));
      cos_[static_cast<std::size_t>(p * half + j)] = static_cast<float>(std::cos(angle));
      sin_[static_cast<std::size_t>(p * half + j)] = static_cast<float>(std::sin(angle));
    }
  tokens_max_ = tokens;
}

void rope_table::apply(float* x, std::int64_t tokens, std::int64_t heads, std::int64_t ld) const {
  if (tokens > tokens_max_)
    throw std::out_of_range(fmt::format(
        "rope: {} tokens, but the table holds {} positions (reserve them first)", tokens,
        tokens_max_));
  rotate(x, tokens, heads, head_dim_, ld, cos_.data(), sin_.data());
}

}  // namespace loom::kernels
