// Matrix products on the CPU through OpenBLAS: f32 directly, bf16 and f16 widened to f32 first.
#pragma once

#include <string>

#include "devices/device.hpp"

namespace loom {

// C = alpha·A·B + beta·C as `args` describe it; throws std::invalid_argument naming `device` for
// a dtype it cannot multiply or a size, leading dimension or pointer that cannot be right.
void cpu_gemm(const std::string& device, const gemm_args& args);

// From this call on, OpenBLAS runs every product on the thread that asks for it. OpenBLAS keeps
// one process-wide worker pool, started before any device pinned a thread, so its workers run on
// any core: a stage pinned to its device's cores would have its products run elsewhere, and
// stages calling at once would queue for the one pool. Each stage is a thread of its own, so
// parallelism comes from stages and replicas instead. Unpinned devices alone leave the pool as it
// is (every usable core).
void keep_blas_on_calling_threads();

}  // namespace loom
