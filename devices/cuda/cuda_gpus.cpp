#include "devices/cuda/cuda_gpus.hpp"

#include <cuda_runtime_api.h>

#include <fmt/format.h>

#include "devices/cuda/cuda_errors.hpp"

namespace loom {
namespace {

// Absent driver and absent GPU both mean "this machine has none", not a failure.
bool means_no_gpu(cudaError_t status) {
  return status == cudaErrorNoDevice || status == cudaErrorInsufficientDriver;
}

gpu_inventory read_inventory() {
  gpu_inventory inventory;
  int count = 0;
  if (auto status = cudaGetDeviceCount(&count); status != cudaSuccess) {
    cudaGetLastError();
    if (!means_no_gpu(status))
      inventory.problem = "cudaGetDeviceCount failed: " + describe_cuda_error(status);
    return inventory;
  }
  for (int index = 0; index < count; ++index) {
    cudaDeviceProp props{};
    gpu_info gpu;
    gpu.index = index;
    if (auto status = cudaGetDeviceProperties(&props, index); status != cudaSuccess) {
      cudaGetLastError();
      inventory.problem = fmt::format("cudaGetDeviceProperties({}) failed: {}", index,
                                      describe_cuda_error(status));
      return inventory;
    }
    gpu.model = props.name;
    gpu.memory_bytes = props.totalGlobalMem;
    gpu.multiprocessors = props.multiProcessorCount;
    gpu.major = props.major;
    gpu.minor = props.minor;
    // CUDA 13 dropped the clock from cudaDeviceProp; the attribute still has it.
    if (cudaDeviceGetAttribute(&gpu.clock_khz, cudaDevAttrClockRate, index) != cudaSuccess) {
      cudaGetLastError();
      gpu.clock_khz = 0;
    }
    for (int other = 0; other < count; ++other) {
      if (other == index) continue;
      int can_access = 0;
      if (cudaDeviceCanAccessPeer(&can_access, index, other) != cudaSuccess) {
        cudaGetLastError();
        continue;
      }
      if (can_access) gpu.peers.push_back(other);
    }
    inventory.gpus.push_back(std::move(gpu));
  }
  return inventory;
}

}  // namespace

const gpu_inventory& cuda_gpus() {
  static const gpu_inventory inventory = read_inventory();
  return inventory;
}

}  // namespace loom
