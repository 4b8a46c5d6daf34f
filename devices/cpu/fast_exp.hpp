// e^x as plain arithmetic, for host loops GCC vectorises without -ffast-math (std::exp is a
// library call per element, never vectorised). Shared by the cpu device's element-wise kernels
// (host_kernels.cpp) and the model kernels (stages/model/kernels), so SwiGLU gives the same bits
// wherever it runs on the host. The clamps are ternaries, which become vector blends only in files
// built with -fno-trapping-math.
#pragma once

#include <cstdint>

namespace loom {

// e^x in f32 to about 2 ulp (Cephes expf: 2^n · p(r), r = x − n·ln2 split in two constants, n
// rounded to nearest by adding and subtracting 1.5·2^23); below −87.3 it returns 2^−126 instead
// of a denormal or 0, above 88 it saturates at e^88.
inline float fast_exp(float x) {
  x = x < -87.3365447505531f ? -87.3365447505531f : x;
  x = x > 88.0f ? 88.0f : x;
  const float n = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
  float r = x - n * 0.693359375f;
  r = r - n * -2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  const std::int32_t bits = (static_cast<std::int32_t>(n) + 127) << 23;
  return p * __builtin_bit_cast(float, bits);
}

}  // namespace loom
