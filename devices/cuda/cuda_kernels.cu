// The element-wise kernels of a cuda device (see cuda_kernels.hpp). They are memory-bound, so
// each is one grid-stride pass over its [rows, cols] elements, one thread per element, with
// 64-bit indices (a routed block can pass 2^31 elements). SiLU uses expf, accurate to 2 ulp like
// the host's exp; bf16 rounding is the host's bit arithmetic, so both round the same way.
#include "devices/cuda/cuda_kernels.hpp"

namespace loom::cuda_kernels {
namespace {

constexpr int threads_per_block = 256;
// Enough blocks to fill any current GPU several times over; past that each thread loops.
constexpr std::int64_t max_blocks = 65535;

unsigned blocks_for(std::int64_t elements) {
  const std::int64_t blocks = (elements + threads_per_block - 1) / threads_per_block;
  return static_cast<unsigned>(blocks < max_blocks ? blocks : max_blocks);
}

__device__ std::int64_t first_index() {
  return static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
}

__device__ std::int64_t grid_stride() {
  return static_cast<std::int64_t>(gridDim.x) * blockDim.x;
}

__global__ void gather_rows_kernel(const float* x, std::int64_t ldx, const std::int32_t* rows,
                                   std::int64_t n, std::int64_t d, float* out) {
  for (std::int64_t i = first_index(); i < n * d; i += grid_stride()) {
    const std::int64_t r = i / d, c = i - r * d;
    out[i] = x[static_cast<std::int64_t>(rows[r]) * ldx + c];
  }
}

__global__ void swiglu_rows_kernel(float* h, std::int64_t rows, std::int64_t ff) {
  for (std::int64_t i = first_index(); i < rows * ff; i += grid_stride()) {
    const std::int64_t r = i / ff, c = i - r * ff;
    float* row = h + r * 2 * ff;
    const float g = row[c];
    row[c] = g / (1.0f + expf(-g)) * row[ff + c];
  }
}

__global__ void scale_rows_kernel(float* y, std::int64_t rows, std::int64_t d,
                                  const float* scale) {
  for (std::int64_t i = first_index(); i < rows * d; i += grid_stride()) y[i] *= scale[i / d];
}

__global__ void add_row_bias_kernel(float* y, std::int64_t rows, std::int64_t cols,
                                    std::int64_t ldy, const float* bias) {
  for (std::int64_t i = first_index(); i < rows * cols; i += grid_stride()) {
    const std::int64_t r = i / cols, c = i - r * cols;
    y[r * ldy + c] += bias[c];
  }
}

__global__ void to_bf16_kernel(const float* x, std::int64_t rows, std::int64_t cols,
                               std::int64_t ldx, std::uint16_t* out) {
  for (std::int64_t i = first_index(); i < rows * cols; i += grid_stride()) {
    const std::int64_t r = i / cols, c = i - r * cols;
    std::uint32_t bits = __float_as_uint(x[r * ldx + c]);
    if ((bits & 0x7fffffffu) > 0x7f800000u)
      out[i] = static_cast<std::uint16_t>((bits >> 16) | 0x40);  // a quiet NaN
    else
      out[i] = static_cast<std::uint16_t>((bits + 0x7fffu + ((bits >> 16) & 1u)) >> 16);
  }
}

// Launches `kernel` over `elements` elements; nothing to do is not a launch.
template <typename Kernel, typename... Args>
cudaError_t launch(std::int64_t elements, cudaStream_t stream, Kernel kernel, Args... args) {
  if (elements <= 0) return cudaSuccess;
  kernel<<<blocks_for(elements), threads_per_block, 0, stream>>>(args...);
  return cudaGetLastError();
}

}  // namespace

bool built() { return true; }

cudaError_t gather_rows(const float* x, std::int64_t ldx, const std::int32_t* rows,
                        std::int64_t n, std::int64_t d, float* out, cudaStream_t stream) {
  return launch(n * d, stream, gather_rows_kernel, x, ldx, rows, n, d, out);
}

cudaError_t swiglu_rows(float* h, std::int64_t rows, std::int64_t ff, cudaStream_t stream) {
  return launch(rows * ff, stream, swiglu_rows_kernel, h, rows, ff);
}

cudaError_t scale_rows(float* y, std::int64_t rows, std::int64_t d, const float* scale,
                       cudaStream_t stream) {
  return launch(rows * d, stream, scale_rows_kernel, y, rows, d, scale);
}

cudaError_t add_row_bias(float* y, std::int64_t rows, std::int64_t cols, std::int64_t ldy,
                         const float* bias, cudaStream_t stream) {
  return launch(rows * cols, stream, add_row_bias_kernel, y, rows, cols, ldy, bias);
}

cudaError_t to_bf16(const float* x, std::int64_t rows, std::int64_t cols, std::int64_t ldx,
                    std::uint16_t* out, cudaStream_t stream) {
  return launch(rows * cols, stream, to_bf16_kernel, x, rows, cols, ldx, out);
}

}  // namespace loom::cuda_kernels
