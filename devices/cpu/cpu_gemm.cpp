// Matrix products on the CPU (see cpu_gemm.hpp), through OpenBLAS opened on first use
// (openblas.hpp). The Debian/Ubuntu OpenBLAS 0.3.21 declares cblas_sbgemm but is built without
// it (no symbol in libopenblas.so), so bf16 and f16 operands are widened to f32 in a per-thread
// scratch and multiplied with cblas_sgemm; a bf16/f16 result is rounded back to nearest even.
// Widening costs O(m·k + k·n) against the product's O(m·n·k).
#include "devices/cpu/cpu_gemm.hpp"

#include <climits>
#include <cstdint>
#include <stdexcept>
#include <vector>

#include <fmt/format.h>

#include "devices/cpu/openblas.hpp"
#include "devices/float_convert.hpp"

namespace loom {
namespace {

bool is_float(dtype type) {
  return type == dtype::f32 || type == dtype::bf16 || type == dtype::f16;
}

void check(const std::string& device, const gemm_args& a) {
  auto fail = [&](const std::string& why) {
    throw std::invalid_argument(fmt::format("device '{}': gemm {}", device, why));
  };
  if (!is_float(a.type))
    fail(fmt::format("multiplies f32, bf16 or f16 matrices, not {}", name_of(a.type)));
  if (a.out_type != dtype::f32 && a.out_type != a.type)
    fail(fmt::format("writes a product of {} matrices as f32 or {}, not {}", name_of(a.type),
                     name_of(a.type), name_of(a.out_type)));
  if (a.m <= 0 || a.n <= 0 || a.k <= 0)
    fail(fmt::format("needs m, n and k above 0, got m={} n={} k={}", a.m, a.n, a.k));
  if (a.m > INT_MAX || a.n > INT_MAX || a.k > INT_MAX || a.lda > INT_MAX || a.ldb > INT_MAX ||
      a.ldc > INT_MAX)
    fail(fmt::format("sizes and leading dimensions must be below 2^31 (OpenBLAS takes int)"));
  if (a.lda < a.k) fail(fmt::format("lda={} is less than k={}, the width of A's rows", a.lda, a.k));
  if (a.ldb < a.n) fail(fmt::format("ldb={} is less than n={}, the width of B's rows", a.ldb, a.n));
  if (a.ldc < a.n) fail(fmt::format("ldc={} is less than n={}, the width of C's rows", a.ldc, a.n));
  if (a.a == nullptr || a.b == nullptr || a.c == nullptr) fail("got a null matrix pointer");
}

// The conversions run once per element of A, B (and a 16-bit C). Cloned for x86-64-v3 (AVX2,
// F16C), picked at load time where the CPU has it: there the loops vectorise and f16 converts in
// hardware, several times faster than the portable build's per-element library calls.
[[gnu::target_clones("arch=x86-64-v3", "default")]]
void widen_matrix(dtype type, const std::byte* from, std::int64_t rows, std::int64_t cols,
                  std::int64_t ld, float* out) {
  const auto* in = reinterpret_cast<const std::uint16_t*>(from);
  for (std::int64_t r = 0; r < rows; ++r) {
    const auto* row = in + r * ld;
    float* dense = out + r * cols;
    if (type == dtype::bf16)
      for (std::int64_t c = 0; c < cols; ++c) dense[c] = f32_from_bf16(row[c]);
    else
      for (std::int64_t c = 0; c < cols; ++c) dense[c] = f32_from_f16(row[c]);
  }
}

[[gnu::target_clones("arch=x86-64-v3", "default")]]
void narrow_matrix(dtype type, const float* from, std::int64_t rows, std::int64_t cols,
                   std::int64_t ld, std::byte* to) {
  auto* out = reinterpret_cast<std::uint16_t*>(to);
  for (std::int64_t r = 0; r < rows; ++r) {
    const float* dense = from + r * cols;
    auto* row = out + r * ld;
    if (type == dtype::bf16)
      for (std::int64_t c = 0; c < cols; ++c) row[c] = bf16_from_f32(dense[c]);
    else
      for (std::int64_t c = 0; c < cols; ++c) row[c] = f16_from_f32(dense[c]);
  }
}

void sgemm(const gemm_args& a, const float* x, int ldx, const float* y, int ldy, float* z,
           int ldz) {
  openblas().sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, static_cast<int>(a.m),
                   static_cast<int>(a.n), static_cast<int>(a.k), a.alpha, x, ldx, y, ldy, a.beta,
                   z, ldz);
}

}  // namespace

void cpu_gemm(const std::string& device, const gemm_args& args) {
  check(device, args);
  const auto& a = args;
  if (a.type == dtype::f32) {
    sgemm(a, reinterpret_cast<const float*>(a.a), static_cast<int>(a.lda),
          reinterpret_cast<const float*>(a.b), static_cast<int>(a.ldb),
          reinterpret_cast<float*>(a.c), static_cast<int>(a.ldc));
    return;
  }
  // Kept per thread between calls: a stage multiplies the same shapes packet after packet.
  thread_local std::vector<float> scratch;
  const bool narrow_out = a.out_type != dtype::f32;
  const auto a_size = a.m * a.k, b_size = a.k * a.n, c_size = narrow_out ? a.m * a.n : 0;
  scratch.resize(static_cast<std::size_t>(a_size + b_size + c_size));
  float* wide_a = scratch.data();
  float* wide_b = wide_a + a_size;
  widen_matrix(a.type, a.a, a.m, a.k, a.lda, wide_a);
  widen_matrix(a.type, a.b, a.k, a.n, a.ldb, wide_b);
  if (!narrow_out) {
    sgemm(a, wide_a, static_cast<int>(a.k), wide_b, static_cast<int>(a.n),
          reinterpret_cast<float*>(a.c), static_cast<int>(a.ldc));
    return;
  }
  float* wide_c = wide_b + b_size;
  if (a.beta != 0.0f) widen_matrix(a.type, a.c, a.m, a.n, a.ldc, wide_c);
  sgemm(a, wide_a, static_cast<int>(a.k), wide_b, static_cast<int>(a.n), wide_c,
        static_cast<int>(a.n));
  narrow_matrix(a.type, wide_c, a.m, a.n, a.ldc, a.c);
}

void keep_blas_on_calling_threads() { openblas().set_num_threads(1); }

}  // namespace loom
