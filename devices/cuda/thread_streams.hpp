// Each thread gets its own CUDA stream on each GPU it touches, and a cuBLAS handle bound to that
// stream, made the first time it needs them and destroyed when the thread ends. So the work one
// executor queues never waits behind another's, and `synchronize` waits for the calling thread's
// own work only. Streams are non-blocking: they never wait for the legacy default stream that
// other libraries in the process may use.
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime_api.h>

namespace loom {

// Makes `gpu` the calling thread's current GPU and returns the thread's stream on it.
cudaStream_t thread_stream(int gpu);

// The calling thread's cuBLAS handle on `gpu`, bound to `thread_stream(gpu)`, which is current
// afterwards (cuBLAS calls must run with their handle's GPU current).
cublasHandle_t thread_blas(int gpu);

// The calling thread's stream on `gpu` when it has made one and is not exiting; nullptr
// otherwise. Makes nothing and selects nothing, so buffer deleters, which run on any thread at any
// time (thread exit included), can call it.
cudaStream_t existing_thread_stream(int gpu) noexcept;

}  // namespace loom
