#include "devices/cuda/cuda_device.hpp"

#include <cublas_v2.h>

#include <algorithm>
#include <climits>
#include <stdexcept>

#include <fmt/format.h>

#include "devices/cpu_affinity.hpp"
#include "devices/cuda/cublas_library.hpp"
#include "devices/cuda/cuda_errors.hpp"
#include "devices/cuda/cuda_gpus.hpp"
#include "devices/cuda/cuda_kernels.hpp"
#include "devices/cuda/device_pool.hpp"
#include "devices/cuda/pinned_pool.hpp"
#include "devices/cuda/thread_streams.hpp"

namespace loom {
namespace {

// Staging buffers kept for reuse once released: enough for a few frames or batches in flight,
// small next to the host memory a pipeline needs anyway.
constexpr std::size_t staging_kept_bytes = 256ull << 20;

// A point in one thread's stream. Created and recorded together, so a failure leaks nothing.
class cuda_event final : public device_event {
 public:
  cuda_event(cudaStream_t stream, const std::string& where) : where_(where) {
    // No timing: a plain marker is cheaper to record and to wait on.
    check_cuda(cudaEventCreateWithFlags(&event_, cudaEventDisableTiming), "cudaEventCreate",
               where_);
    if (auto status = cudaEventRecord(event_, stream); status != cudaSuccess) {
      cudaEventDestroy(event_);
      throw_cuda_error(status, "cudaEventRecord", where_);
    }
  }
  ~cuda_event() override {
    if (cudaEventDestroy(event_) != cudaSuccess) cudaGetLastError();
  }
  cuda_event(const cuda_event&) = delete;
  cuda_event& operator=(const cuda_event&) = delete;

  void wait() override { check_cuda(cudaEventSynchronize(event_), "cudaEventSynchronize", where_); }

  bool done() override {
    const auto status = cudaEventQuery(event_);
    if (status == cudaErrorNotReady) return false;
    check_cuda(status, "cudaEventQuery", where_);
    return true;
  }

 private:
  cudaEvent_t event_ = nullptr;
  std::string where_;
};

cudaDataType_t cuda_data_type(dtype type) {
  switch (type) {
    case dtype::bf16: return CUDA_R_16BF;
    case dtype::f16: return CUDA_R_16F;
    default: return CUDA_R_32F;
  }
}

// cuBLAS takes `int` dimensions and column-major leading dimensions of at least the row count.
void check_gemm_args(const std::string& device_name, const gemm_args& args) {
  const bool known_type =
      args.type == dtype::f32 || args.type == dtype::bf16 || args.type == dtype::f16;
  if (!known_type || (args.out_type != dtype::f32 && args.out_type != args.type))
    throw std::invalid_argument(fmt::format(
        "device '{}' multiplies f32, bf16 or f16 matrices into f32 or their own type, not {} "
        "into {}",
        device_name, name_of(args.type), name_of(args.out_type)));
  const auto fits = [](std::int64_t value) { return value >= 0 && value <= INT_MAX; };
  if (!fits(args.m) || !fits(args.n) || !fits(args.k) || !fits(args.lda) || !fits(args.ldb) ||
      !fits(args.ldc))
    throw std::invalid_argument(fmt::format(
        "device '{}': gemm sizes m={} n={} k={} lda={} ldb={} ldc={} must be between 0 and {}",
        device_name, args.m, args.n, args.k, args.lda, args.ldb, args.ldc, INT_MAX));
  if (args.lda < std::max<std::int64_t>(1, args.k) || args.ldb < std::max<std::int64_t>(1, args.n) ||
      args.ldc < std::max<std::int64_t>(1, args.n))
    throw std::invalid_argument(fmt::format(
        "device '{}': gemm leading dimensions lda={} ldb={} ldc={} are shorter than the rows "
        "they step over (k={}, n={}, n={})",
        device_name, args.lda, args.ldb, args.ldc, args.k, args.n, args.n));
  const bool missing = (args.m > 0 && args.k > 0 && !args.a) ||
                       (args.k > 0 && args.n > 0 && !args.b) || (args.m > 0 && args.n > 0 && !args.c);
  if (missing)
    throw std::invalid_argument(
        fmt::format("device '{}': gemm was given a null matrix pointer", device_name));
}

}  // namespace

cuda_device::cuda_device(std::string name, int gpu, device_caps caps)
    : device(std::move(name), "cuda", std::move(caps)),
      gpu_(gpu),
      where_(fmt::format("device '{}' (GPU {})", this->name(), gpu)),
      memory_(device_pool::create(this->name(), gpu, this->caps().memory_total)),
      staging_(pinned_pool::create(this->name(), gpu, staging_kept_bytes)) {}

cudaStream_t cuda_device::stream() const { return thread_stream(gpu_); }

std::size_t cuda_device::memory_free() const { return memory_->available(); }

buffer cuda_device::allocate(std::size_t bytes) { return memory_->allocate(bytes, stream()); }

buffer cuda_device::allocate_staging(std::size_t bytes) { return staging_->allocate(bytes); }

void cuda_device::copy_from_host(const std::byte* host, std::byte* to, std::size_t bytes) {
  if (bytes == 0) return;
  check_cuda(cudaMemcpyAsync(to, host, bytes, cudaMemcpyHostToDevice, stream()),
             "cudaMemcpyAsync (host to device)", where_);
}

void cuda_device::copy_to_host(const std::byte* from, std::byte* host, std::size_t bytes) {
  if (bytes == 0) return;
  check_cuda(cudaMemcpyAsync(host, from, bytes, cudaMemcpyDeviceToHost, stream()),
             "cudaMemcpyAsync (device to host)", where_);
}

void cuda_device::copy_within(const std::byte* from, std::byte* to, std::size_t bytes) {
  if (bytes == 0) return;
  check_cuda(cudaMemcpyAsync(to, from, bytes, cudaMemcpyDeviceToDevice, stream()),
             "cudaMemcpyAsync (device to device)", where_);
}

bool cuda_device::copy_from_peer(const device& source, const std::byte* from, std::byte* to,
                                 std::size_t bytes) {
  const auto* peer = dynamic_cast<const cuda_device*>(&source);
  if (!peer) return false;
  if (peer->gpu_ == gpu_) {
    copy_within(from, to, bytes);
    return true;
  }
  const auto& gpus = cuda_gpus().gpus;
  if (static_cast<std::size_t>(gpu_) >= gpus.size()) return false;
  const auto& reachable = gpus[static_cast<std::size_t>(gpu_)].peers;
  if (std::find(reachable.begin(), reachable.end(), peer->gpu_) == reachable.end()) return false;
  enable_peer_access(*peer);
  if (bytes == 0) return true;
  check_cuda(cudaMemcpyPeerAsync(to, gpu_, from, peer->gpu_, bytes, stream()),
             fmt::format("cudaMemcpyPeerAsync (from GPU {})", peer->gpu_), where_);
  return true;
}

void cuda_device::enable_peer_access(const cuda_device& peer) {
  std::lock_guard lock(peers_mutex_);
  if (std::find(peers_enabled_.begin(), peers_enabled_.end(), peer.gpu_) != peers_enabled_.end())
    return;
  stream();  // selects this GPU: peer access is granted to the current one
  // Another device on this GPU may have enabled it for the process already.
  if (auto status = cudaDeviceEnablePeerAccess(peer.gpu_, 0);
      status == cudaErrorPeerAccessAlreadyEnabled)
    cudaGetLastError();
  else
    check_cuda(status, fmt::format("cudaDeviceEnablePeerAccess(GPU {})", peer.gpu_), where_);
  peer.memory_->grant_access(gpu_);
  peers_enabled_.push_back(peer.gpu_);
}

void cuda_device::synchronize() {
  check_cuda(cudaStreamSynchronize(stream()), "cudaStreamSynchronize", where_);
}

std::unique_ptr<device_event> cuda_device::record() {
  return std::make_unique<cuda_event>(stream(), where_);
}

void cuda_device::bind_thread() {
  if (!caps().cores.empty()) pin_current_thread(caps().cores);
  stream();
}

void cuda_device::gemm(const gemm_args& args) {
  check_gemm_args(name(), args);
  if (args.m == 0 || args.n == 0) return;
  cublasHandle_t blas = thread_blas(gpu_);
  const auto m = static_cast<int>(args.m), n = static_cast<int>(args.n),
             k = static_cast<int>(args.k);
  const auto lda = static_cast<int>(args.lda), ldb = static_cast<int>(args.ldb),
             ldc = static_cast<int>(args.ldc);
  // cuBLAS is column-major, and a row-major matrix read column-major is its transpose. So the
  // row-major C = A·B is computed as the column-major Cᵀ = Bᵀ·Aᵀ: the operands swap, and each
  // matrix's row stride serves as its leading dimension, with no copy or transpose.
  if (args.type == dtype::f32) {
    check_cublas(cublas().sgemm(blas, CUBLAS_OP_N, CUBLAS_OP_N, n, m, k, &args.alpha,
                                reinterpret_cast<const float*>(args.b), ldb,
                                reinterpret_cast<const float*>(args.a), lda, &args.beta,
                                reinterpret_cast<float*>(args.c), ldc),
                 "cublasSgemm", where_);
    return;
  }
  // bf16 and f16 inputs accumulate in f32 (alpha and beta are then floats too) on the tensor
  // cores; the output is f32 or rounded to the input type.
  const auto in_type = cuda_data_type(args.type);
  check_cublas(cublas().gemm_ex(blas, CUBLAS_OP_N, CUBLAS_OP_N, n, m, k, &args.alpha, args.b,
                                in_type, ldb, args.a, in_type, lda, &args.beta, args.c,
                                cuda_data_type(args.out_type), ldc, CUBLAS_COMPUTE_32F,
                                CUBLAS_GEMM_DEFAULT),
               "cublasGemmEx", where_);
}

void cuda_device::check_kernel(cudaError_t status, const char* kernel) const {
  if (!cuda_kernels::built())
    throw std::runtime_error(fmt::format(
        "{}: this loom was built without nvcc: no CUDA kernels for moe shards ({}); rebuild "
        "where CMake finds nvcc (the CUDA toolkit's compiler)",
        where_, kernel));
  check_cuda(status, fmt::format("{} kernel launch", kernel), where_);
}

void cuda_device::gather_rows(const float* x, std::int64_t ldx, const std::int32_t* rows,
                              std::int64_t n, std::int64_t d, float* out) {
  check_kernel(cuda_kernels::gather_rows(x, ldx, rows, n, d, out, stream()), "gather_rows");
}

void cuda_device::swiglu_rows(float* h, std::int64_t rows, std::int64_t ff) {
  check_kernel(cuda_kernels::swiglu_rows(h, rows, ff, stream()), "swiglu_rows");
}

void cuda_device::scale_rows(float* y, std::int64_t rows, std::int64_t d, const float* scale) {
  check_kernel(cuda_kernels::scale_rows(y, rows, d, scale, stream()), "scale_rows");
}

void cuda_device::add_row_bias(float* y, std::int64_t rows, std::int64_t cols, std::int64_t ldy,
                               const float* bias) {
  check_kernel(cuda_kernels::add_row_bias(y, rows, cols, ldy, bias, stream()), "add_row_bias");
}

void cuda_device::to_bf16(const float* x, std::int64_t rows, std::int64_t cols, std::int64_t ldx,
                          std::uint16_t* out) {
  check_kernel(cuda_kernels::to_bf16(x, rows, cols, ldx, out, stream()), "to_bf16");
}

}  // namespace loom
