// The moe layer as docs/model-architecture.md defines it, token by token with plain loops and
// double accumulators: the dense reference that tests/test_moe.cpp and tests/test_cuda_moe.cpp
// hold the sharded layer to, whatever devices its shards run on. With bf16 weights it rounds each
// product's activation input to bf16 first, as the numeric contract says.
#pragma once

#include <algorithm>
#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "devices/float_convert.hpp"
#include "stages/model/moe/moe_stages.hpp"
#include "stages/model/weights.hpp"

namespace loom::test {

inline std::vector<float> random_rows(std::int64_t rows, std::int64_t cols, unsigned seed) {
  std::mt19937 generator(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> out(static_cast<std::size_t>(rows * cols));
  for (auto& v : out) v = normal(generator);
  return out;
}

// Element (r, c) of an f32 or bf16 matrix, as f32.
inline float at(const tensor& t, std::int64_t r, std::int64_t c) {
  const std::int64_t i = r * t.strides()[0] + c;
  return t.type() == dtype::bf16 ? f32_from_bf16(t.data<std::uint16_t>()[i]) : t.data<float>()[i];
}

struct layer_shape {
  std::int64_t d = 16, ff = 8, experts = 6, top_k = 2, shared = 1;
  std::string dtype = "f32";
};

// The layer's output for `tokens` rows of x [tokens, d], weights from `weights_spec`.
inline std::vector<float> reference_moe(const std::vector<float>& x, std::int64_t tokens,
                                        const layer_shape& s, const std::string& weights_spec) {
  const bool bf16 = s.dtype == "bf16";
  const dtype type = bf16 ? dtype::bf16 : dtype::f32;
  // What a product sees of an activation.
  const auto operand = [bf16](double v) {
    return bf16 ? double(f32_from_bf16(bf16_from_f32(static_cast<float>(v)))) : v;
  };
  param_values p({{"d_model", s.d}, {"d_ff", s.ff}, {"dtype", s.dtype}});
  std::vector<weight_spec> expected{{"router.weight", type, {s.d, s.experts},
                                     weight_fill::uniform, s.d}};
  for (std::int64_t e = 0; e < s.experts; ++e)
    for (auto& w : moe_expert_weights("experts." + std::to_string(e), p)) expected.push_back(w);
  for (std::int64_t e = 0; e < s.shared; ++e)
    for (auto& w : moe_expert_weights("shared." + std::to_string(e), p)) expected.push_back(w);
  auto w = weights::open(weights_spec, expected);
  auto expert = [&](const std::string& prefix, const float* row, float* out, float scale) {
    const tensor& gate = w.get(prefix + ".gate.weight");
    const tensor& up = w.get(prefix + ".up.weight");
    const tensor& down = w.get(prefix + ".down.weight");
    std::vector<double> h(static_cast<std::size_t>(s.ff));
    for (std::int64_t j = 0; j < s.ff; ++j) {
      double g = 0, u = 0;
      for (std::int64_t i = 0; i < s.d; ++i) {
        g += operand(row[i]) * at(gate, i, j);
        u += operand(row[i]) * at(up, i, j);
      }
      h[static_cast<std::size_t>(j)] = operand(g / (1 + std::exp(-g)) * u);
    }
    for (std::int64_t c = 0; c < s.d; ++c) {
      double acc = 0;
      for (std::int64_t j = 0; j < s.ff; ++j) acc += h[static_cast<std::size_t>(j)] * at(down, j, c);
      out[c] += static_cast<float>(scale * acc);
    }
  };
  std::vector<float> out(x.size(), 0.0f);
  for (std::int64_t t = 0; t < tokens; ++t) {
    const float* row = x.data() + t * s.d;
    std::vector<double> p_e(static_cast<std::size_t>(s.experts));
    double max = -1e30, sum = 0;
    for (std::int64_t e = 0; e < s.experts; ++e) {
      double logit = 0;
      for (std::int64_t i = 0; i < s.d; ++i)
        logit += operand(row[i]) * at(w.get("router.weight"), i, e);
      p_e[static_cast<std::size_t>(e)] = logit;
      max = std::max(max, logit);
    }
    for (auto& v : p_e) sum += v = std::exp(v - max);
    std::vector<std::int64_t> order(static_cast<std::size_t>(s.experts));
    for (std::int64_t e = 0; e < s.experts; ++e) order[static_cast<std::size_t>(e)] = e;
    std::stable_sort(order.begin(), order.end(), [&](auto a, auto b) {
      return p_e[static_cast<std::size_t>(a)] > p_e[static_cast<std::size_t>(b)];
    });
    double top_sum = 0;
    for (std::int64_t k = 0; k < s.top_k; ++k) top_sum += p_e[static_cast<std::size_t>(order[static_cast<std::size_t>(k)])];
    for (std::int64_t k = 0; k < s.top_k; ++k) {
      auto e = order[static_cast<std::size_t>(k)];
      expert("experts." + std::to_string(e), row, out.data() + t * s.d,
             static_cast<float>(p_e[static_cast<std::size_t>(e)] / top_sum));
    }
    for (std::int64_t e = 0; e < s.shared; ++e)
      expert("shared." + std::to_string(e), row, out.data() + t * s.d, 1.0f);
  }
  return out;
}

}  // namespace loom::test
