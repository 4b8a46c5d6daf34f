// emu's matrix product (see emu_gemm.hpp): operands converted to f32 as the matrix unit would
// read them, one OpenBLAS sgemm, the result rounded to C's dtype.
#include "devices/emu/emu_gemm.hpp"

#include <cblas.h>

#include <climits>
#include <cstdint>
#include <vector>

#include <fmt/format.h>

#include "devices/float_convert.hpp"

namespace loom::emu {
namespace {

const char* name_of(loom_device_dtype type) {
  switch (type) {
    case LOOM_DEVICE_U8: return "u8";
    case LOOM_DEVICE_I32: return "i32";
    case LOOM_DEVICE_I64: return "i64";
    case LOOM_DEVICE_F16: return "f16";
    case LOOM_DEVICE_BF16: return "bf16";
    case LOOM_DEVICE_F32: return "f32";
  }
  return "an unknown dtype";
}

bool is_float(loom_device_dtype type) {
  return type == LOOM_DEVICE_F32 || type == LOOM_DEVICE_BF16 || type == LOOM_DEVICE_F16;
}

float load(const void* data, loom_device_dtype type, std::int64_t index) {
  switch (type) {
    case LOOM_DEVICE_BF16: return f32_from_bf16(static_cast<const std::uint16_t*>(data)[index]);
    case LOOM_DEVICE_F16: return f32_from_f16(static_cast<const std::uint16_t*>(data)[index]);
    default: return static_cast<const float*>(data)[index];
  }
}

void store(void* data, loom_device_dtype type, std::int64_t index, float value) {
  switch (type) {
    case LOOM_DEVICE_BF16: static_cast<std::uint16_t*>(data)[index] = bf16_from_f32(value); break;
    case LOOM_DEVICE_F16: static_cast<std::uint16_t*>(data)[index] = f16_from_f32(value); break;
    default: static_cast<float*>(data)[index] = value;
  }
}

float round_to(emu_precision precision, float value) {
  switch (precision) {
    case emu_precision::bf16: return f32_from_bf16(bf16_from_f32(value));
    case emu_precision::f16: return f32_from_f16(f16_from_f32(value));
    case emu_precision::f32: return value;
  }
  return value;
}

// A dense f32 copy of a rows x cols matrix, each element as the matrix unit would read it.
std::vector<float> operand(const void* data, loom_device_dtype type, std::int64_t rows,
                           std::int64_t cols, std::int64_t ld, emu_precision precision) {
  std::vector<float> dense(static_cast<std::size_t>(rows * cols));
  for (std::int64_t r = 0; r < rows; ++r)
    for (std::int64_t c = 0; c < cols; ++c)
      dense[static_cast<std::size_t>(r * cols + c)] =
          round_to(precision, load(data, type, r * ld + c));
  return dense;
}

void check_shape(const loom_device_gemm& args) {
  auto fits_int = [](std::int64_t v) { return v >= 0 && v <= INT_MAX; };
  if (!fits_int(args.m) || !fits_int(args.n) || !fits_int(args.k) || !fits_int(args.lda) ||
      !fits_int(args.ldb) || !fits_int(args.ldc))
    throw std::invalid_argument(
        fmt::format("gemm dimensions must lie in [0, {}]: m={} n={} k={} lda={} ldb={} ldc={}",
                    INT_MAX, args.m, args.n, args.k, args.lda, args.ldb, args.ldc));
  if (args.lda < args.k || args.ldb < args.n || args.ldc < args.n)
    throw std::invalid_argument(fmt::format(
        "gemm leading dimensions are shorter than their rows: lda={} < k={}, ldb={} < n={} or "
        "ldc={} < n={}",
        args.lda, args.k, args.ldb, args.n, args.ldc, args.n));
}

// BLAS wants every leading dimension at least 1, even where k = 0 leaves A and B unread.
int leading(std::int64_t ld) { return ld < 1 ? 1 : static_cast<int>(ld); }

}  // namespace

void gemm(const loom_device_gemm& args, emu_precision precision) {
  if (!is_float(args.type) || (args.out_type != LOOM_DEVICE_F32 && args.out_type != args.type))
    throw unsupported_gemm(fmt::format(
        "emu multiplies f32, bf16 or f16 matrices into f32 or their own dtype, not {} into {}",
        name_of(args.type), name_of(args.out_type)));
  check_shape(args);
  if (args.m == 0 || args.n == 0) return;
  const int m = static_cast<int>(args.m), n = static_cast<int>(args.n),
            k = static_cast<int>(args.k);

  if (args.type == LOOM_DEVICE_F32 && args.out_type == LOOM_DEVICE_F32 &&
      precision == emu_precision::f32) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, n, k, args.alpha,
                static_cast<const float*>(args.a), leading(args.lda),
                static_cast<const float*>(args.b), leading(args.ldb), args.beta,
                static_cast<float*>(args.c), leading(args.ldc));
    return;
  }

  const auto a = operand(args.a, args.type, args.m, args.k, args.lda, precision);
  const auto b = operand(args.b, args.type, args.k, args.n, args.ldb, precision);
  if (args.out_type == LOOM_DEVICE_F32) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, n, k, args.alpha, a.data(),
                leading(k), b.data(), n, args.beta, static_cast<float*>(args.c), leading(args.ldc));
    return;
  }
  // A 16-bit C accumulates in f32 too and is rounded once, when stored.
  auto c = operand(args.c, args.out_type, args.m, args.n, args.ldc, emu_precision::f32);
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, n, k, args.alpha, a.data(), leading(k),
              b.data(), n, args.beta, c.data(), n);
  for (std::int64_t r = 0; r < args.m; ++r)
    for (std::int64_t col = 0; col < args.n; ++col)
      store(args.c, args.out_type, r * args.ldc + col,
            c[static_cast<std::size_t>(r * args.n + col)]);
}

}  // namespace loom::emu
