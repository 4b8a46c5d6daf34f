#include "devices/cuda/device_pool.hpp"

#include <algorithm>
#include <cstdint>
#include <cstdio>

#include <fmt/format.h>

#include "devices/cuda/cuda_errors.hpp"
#include "devices/cuda/thread_streams.hpp"
#include "devices/device.hpp"

namespace loom {
namespace {

std::string where(const std::string& device_name, int gpu) {
  return fmt::format("device '{}' (GPU {})", device_name, gpu);
}

// Deleters cannot throw: a failed free is reported and the memory left to the pool's teardown.
// At process exit the runtime may be unloading already; that is not worth a line.
void report_failed_free(const std::string& device_name, int gpu, cudaError_t status) {
  cudaGetLastError();
  if (status == cudaErrorCudartUnloading || status == cudaErrorContextIsDestroyed) return;
  std::fprintf(stderr, "loom: %s: cudaFreeAsync failed: %s\n", where(device_name, gpu).c_str(),
               describe_cuda_error(status).c_str());
}

}  // namespace

std::shared_ptr<device_pool> device_pool::create(std::string device_name, int gpu,
                                                 std::size_t limit) {
  return std::shared_ptr<device_pool>(new device_pool(std::move(device_name), gpu, limit));
}

device_pool::device_pool(std::string device_name, int gpu, std::size_t limit)
    : device_name_(std::move(device_name)), gpu_(gpu), limit_(limit) {
  const auto context = where(device_name_, gpu_);
  check_cuda(cudaSetDevice(gpu_), "cudaSetDevice", context);
  cudaMemPoolProps props{};
  props.allocType = cudaMemAllocationTypePinned;
  props.handleTypes = cudaMemHandleTypeNone;
  props.location.type = cudaMemLocationTypeDevice;
  props.location.id = gpu_;
  check_cuda(cudaMemPoolCreate(&pool_, &props), "cudaMemPoolCreate", context);
  // Keep every freed byte for reuse: handing memory back to the driver and asking for it again on
  // the next packet would cost a synchronizing driver call each time.
  std::uint64_t keep_everything = UINT64_MAX;
  auto status = cudaMemPoolSetAttribute(pool_, cudaMemPoolAttrReleaseThreshold, &keep_everything);
  const char* failed = "cudaMemPoolSetAttribute(cudaMemPoolAttrReleaseThreshold)";
  if (status == cudaSuccess) {
    status = cudaStreamCreateWithFlags(&release_stream_, cudaStreamNonBlocking);
    failed = "cudaStreamCreateWithFlags";
  }
  if (status != cudaSuccess) {
    cudaMemPoolDestroy(pool_);
    throw_cuda_error(status, failed, context);
  }
}

device_pool::~device_pool() {
  // Every buffer held this pool, so none is outstanding; frees still queued on streams complete
  // before the driver releases the pool (cudaMemPoolDestroy defers until they have).
  cudaStreamDestroy(release_stream_);
  cudaMemPoolDestroy(pool_);
  cudaGetLastError();
}

std::size_t device_pool::available() const {
  const std::size_t taken = std::min(used(), limit_);
  const std::size_t below_limit = limit_ - taken;
  // cudaMemGetInfo reports on the current GPU; the caller's choice is put back afterwards.
  int previous = -1;
  std::size_t card_free = 0, card_total = 0;
  std::uint64_t reserved = 0, in_use = 0;
  const bool read = cudaGetDevice(&previous) == cudaSuccess && cudaSetDevice(gpu_) == cudaSuccess &&
                    cudaMemGetInfo(&card_free, &card_total) == cudaSuccess &&
                    cudaMemPoolGetAttribute(pool_, cudaMemPoolAttrReservedMemCurrent, &reserved) ==
                        cudaSuccess &&
                    cudaMemPoolGetAttribute(pool_, cudaMemPoolAttrUsedMemCurrent, &in_use) ==
                        cudaSuccess;
  if (previous >= 0) cudaSetDevice(previous);
  cudaGetLastError();
  if (!read) return below_limit;
  const std::size_t pool_idle = reserved > in_use ? static_cast<std::size_t>(reserved - in_use) : 0;
  return std::min(below_limit, card_free + pool_idle);
}

buffer device_pool::allocate(std::size_t bytes, cudaStream_t stream) {
  if (bytes == 0) return buffer();
  std::size_t taken = used_.load(std::memory_order_relaxed);
  do {
    const std::size_t left = limit_ - std::min(taken, limit_);
    if (bytes > left) throw device_out_of_memory(device_name_, bytes, left);
  } while (!used_.compare_exchange_weak(taken, taken + bytes, std::memory_order_relaxed));

  void* data = nullptr;
  auto status = cudaMallocFromPoolAsync(&data, bytes, pool_, stream);
  if (status == cudaErrorMemoryAllocation) {
    // The pool may hold free memory in pieces too small for this: hand those back and retry.
    cudaGetLastError();
    if (cudaMemPoolTrimTo(pool_, 0) != cudaSuccess) cudaGetLastError();
    status = cudaMallocFromPoolAsync(&data, bytes, pool_, stream);
  }
  if (status != cudaSuccess) {
    used_.fetch_sub(bytes, std::memory_order_relaxed);
    if (status == cudaErrorMemoryAllocation) {
      cudaGetLastError();
      throw device_out_of_memory(device_name_, bytes, available());
    }
    throw_cuda_error(status, "cudaMallocFromPoolAsync", where(device_name_, gpu_));
  }
  return buffer::adopt(static_cast<std::byte*>(data), bytes,
                       [pool = shared_from_this(), data, bytes] { pool->release(data, bytes); });
}

void device_pool::release(void* data, std::size_t bytes) noexcept {
  cudaStream_t stream = existing_thread_stream(gpu_);
  if (!stream) stream = release_stream_;
  if (auto status = cudaFreeAsync(data, stream); status != cudaSuccess)
    report_failed_free(device_name_, gpu_, status);
  used_.fetch_sub(bytes, std::memory_order_relaxed);
}

void device_pool::grant_access(int peer) {
  std::lock_guard lock(peers_mutex_);
  if (std::find(peers_granted_.begin(), peers_granted_.end(), peer) != peers_granted_.end())
    return;
  cudaMemAccessDesc access{};
  access.location.type = cudaMemLocationTypeDevice;
  access.location.id = peer;
  access.flags = cudaMemAccessFlagsProtReadWrite;
  check_cuda(cudaMemPoolSetAccess(pool_, &access, 1),
             fmt::format("cudaMemPoolSetAccess(GPU {})", peer), where(device_name_, gpu_));
  peers_granted_.push_back(peer);
}

}  // namespace loom
