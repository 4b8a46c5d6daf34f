// The NVIDIA GPUs this machine has, read once through the CUDA runtime (which honours
// CUDA_VISIBLE_DEVICES). No driver, or a driver without GPUs, is an empty list and never an
// error: `loom check`, `loom plan` and `loom devices` must work on machines without GPUs.
// Reading the list creates no CUDA context, so it costs no GPU memory.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace loom {

struct gpu_info {
  int index = 0;              // the CUDA device ordinal
  std::string model;          // "NVIDIA H100 80GB HBM3"
  std::size_t memory_bytes = 0;
  int multiprocessors = 0;
  int major = 0, minor = 0;   // compute capability
  int clock_khz = 0;          // peak SM clock
  std::vector<int> peers;     // ordinals of the GPUs it can read and write directly
};

struct gpu_inventory {
  std::vector<gpu_info> gpus;
  // Why the list is empty or short when that is not simply "no GPU here" (a driver older than
  // the runtime, a GPU that would not answer); empty otherwise.
  std::string problem;
};

const gpu_inventory& cuda_gpus();

}  // namespace loom
