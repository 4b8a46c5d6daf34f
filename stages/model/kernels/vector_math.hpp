// Helpers for the kernels' hot loops that GCC vectorises without -ffast-math: an exp that is
// plain arithmetic (devices/cpu/fast_exp.hpp), and row sums and
// a maximum with several independent lanes (a single-accumulator float reduction is never
// reordered, so never vectorised). The clamps and maxima are ternaries, which GCC turns into
// vector blends once FP comparisons may not trap: the files that include this are built with
// -fno-trapping-math (stages/model/CMakeLists.txt). Internal to stages/model/kernels.
#pragma once

#include <cstdint>

#include "devices/cpu/fast_exp.hpp"

namespace loom::kernels::detail {

using loom::fast_exp;

inline float sum(const float* x, std::int64_t n) {
  float lanes[8] = {};
  std::int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int l = 0; l < 8; ++l) lanes[l] += x[i + l];
  float total = ((lanes[0] + lanes[4]) + (lanes[1] + lanes[5])) +
                ((lanes[2] + lanes[6]) + (lanes[3] + lanes[7]));
  for (; i < n; ++i) total += x[i];
  return total;
}

inline float sum_of_squares(const float* x, std::int64_t n) {
  float lanes[8] = {};
  std::int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int l = 0; l < 8; ++l) lanes[l] += x[i + l] * x[i + l];
  float total = ((lanes[0] + lanes[4]) + (lanes[1] + lanes[5])) +
                ((lanes[2] + lanes[6]) + (lanes[3] + lanes[7]));
  for (; i < n; ++i) total += x[i] * x[i];
  return total;
}

inline float squared_deviation(const float* x, std::int64_t n, float mean) {
  float lanes[8] = {};
  std::int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int l = 0; l < 8; ++l) {
      const float d = x[i + l] - mean;
      lanes[l] += d * d;
    }
  float total = ((lanes[0] + lanes[4]) + (lanes[1] + lanes[5])) +
                ((lanes[2] + lanes[6]) + (lanes[3] + lanes[7]));
  for (; i < n; ++i) total += (x[i] - mean) * (x[i] - mean);
  return total;
}

// x[i] = e^(x[i] − shift) for each i, returning their sum: one pass over x where an exp pass and
// a sum pass would read it twice. Sixteen lanes fill one AVX-512 register or two AVX2 ones.
inline float exp_and_sum(float* x, std::int64_t n, float shift) {
  float lanes[16] = {};
  std::int64_t i = 0;
  for (; i + 16 <= n; i += 16)
    for (int l = 0; l < 16; ++l) {
      const float e = fast_exp(x[i + l] - shift);
      x[i + l] = e;
      lanes[l] += e;
    }
  float total = 0;
  for (int l = 0; l < 16; ++l) total += lanes[l];
  for (; i < n; ++i) {
    const float e = fast_exp(x[i] - shift);
    x[i] = e;
    total += e;
  }
  return total;
}

// Thirty-two lanes: a vector maximum has a latency of four cycles, so one register of lanes
// would wait on itself; two AVX-512 or four AVX2 registers keep the loads streaming.
inline float maximum(const float* x, std::int64_t n) {
  constexpr int width = 32;
  float lanes[width];
  std::int64_t i = 0;
  if (n >= width) {
    for (int l = 0; l < width; ++l) lanes[l] = x[l];
    for (i = width; i + width <= n; i += width)
      for (int l = 0; l < width; ++l) lanes[l] = lanes[l] > x[i + l] ? lanes[l] : x[i + l];
  } else {
    for (int l = 0; l < width; ++l) lanes[l] = x[0];
  }
  float best = lanes[0];
  for (int l = 1; l < width; ++l) best = best > lanes[l] ? best : lanes[l];
  for (; i < n; ++i) best = best > x[i] ? best : x[i];
  return best;
}

}  // namespace loom::kernels::detail
