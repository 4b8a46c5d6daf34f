// A device: where a stage's tensors live and where its compute runs. Modelled on llama.cpp's
// ggml-backend: what a device can do is data (`device_caps`), read by the planner and by
// `loom devices` without running anything; what it does is a small set of virtual calls that each
// backend (devices/cpu, devices/cuda, a device plugin such as devices/emu) implements.
//
// Memory spaces: every tensor carries the name of the memory space that holds it
// (`tensor::device()`). Host memory is "cpu", shared by every CPU device; a GPU or an NPU has its
// own ("cuda:0", "emu:npu0"). A stage only ever sees tensors in its own device's memory space:
// where an edge crosses spaces the runtime moves the tensors with `transfer` (devices/transfer.hpp).
//
// Element-wise kernels: the few the model stages need besides `gemm` (gathering rows, SwiGLU,
// scaling rows, adding a bias, rounding to bf16). Host memory runs them on the calling thread
// (devices/cpu/host_kernels.hpp); a device with memory of its own overrides them (cuda) or lacks
// them and says so, and the plugin ABI has no entries for them.
//
// Executor: the thread that runs a stage calls `bind_thread` once before `open`; a CPU device
// pins it to its cores, a GPU selects itself and gives the thread its own stream. Copies and math
// are queued on the calling thread's stream; `synchronize` waits for them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "devices/buffer.hpp"
#include "devices/dtype.hpp"
#include "devices/tensor.hpp"

namespace loom {

// The memory space of host memory: every CPU device allocates here.
inline constexpr const char* host_memory_space = "cpu";

struct device_caps {
  std::string memory_space = host_memory_space;  // the tag on tensors in its memory
  std::size_t memory_total = 0;  // bytes its stages may allocate; 0: unknown (host memory)
  bool async = false;            // copies and math are queued on a stream (`synchronize`)
  std::vector<std::string> peers;       // memory spaces it copies from directly (peer access)
  std::vector<dtype> compute_dtypes;    // element types its math runs in natively
  double copy_bytes_per_s = 0;   // host <-> device bandwidth for the planner; 0: no copy needed
  double flops = 0;              // f32 matrix-product throughput for the planner (FLOP/s)
  double reduced_flops = 0;      // bf16/f16 throughput; 0: same as `flops`
  std::vector<int> cores;        // CPUs that run its stages' host code; empty: any
  int numa_node = -1;            // NUMA node of its host memory; -1: not bound
};

// A device out of memory: names the device, the bytes asked for and the bytes it had free.
class device_out_of_memory : public std::runtime_error {
 public:
  device_out_of_memory(const std::string& device, std::size_t wanted, std::size_t free);
  const std::string& device() const { return device_; }
  std::size_t wanted() const { return wanted_; }
  std::size_t free() const { return free_; }

 private:
  std::string device_;
  std::size_t wanted_;
  std::size_t free_;
};

// A point in a thread's stream; `wait` returns once the work queued before it is done.
class device_event {
 public:
  virtual ~device_event() = default;
  virtual void wait() = 0;
  virtual bool done() = 0;
};

// C[m×n] = alpha · A[m×k] · B[k×n] + beta · C, row-major, each with its own leading dimension
// (elements between rows). A and B share one dtype (f32, or bf16/f16 accumulated in f32); C is
// f32, or the same dtype as A.
struct gemm_args {
  dtype type = dtype::f32;
  dtype out_type = dtype::f32;
  std::int64_t m = 0, n = 0, k = 0;
  const std::byte* a = nullptr;
  std::int64_t lda = 0;
  const std::byte* b = nullptr;
  std::int64_t ldb = 0;
  std::byte* c = nullptr;
  std::int64_t ldc = 0;
  float alpha = 1.0f;
  float beta = 0.0f;
};

class device {
 public:
  device(std::string name, std::string kind, device_caps caps)
      : name_(std::move(name)), kind_(std::move(kind)), caps_(std::move(caps)) {}
  virtual ~device() = default;
  device(const device&) = delete;
  device& operator=(const device&) = delete;

  const std::string& name() const { return name_; }  // as declared in the graph: "npu0"
  const std::string& kind() const { return kind_; }  // "cpu", "cuda", "emu", ...
  const device_caps& caps() const { return caps_; }
  const std::string& memory_space() const { return caps_.memory_space; }

  // Bytes that `allocate` can still hand out.
  virtual std::size_t memory_free() const = 0;

  // `bytes` of this device's memory, 64-byte aligned, handed back to its pool with the last
  // view. Throws device_out_of_memory.
  virtual buffer allocate(std::size_t bytes) = 0;
  // A dense tensor in this device's memory, tagged with its memory space.
  tensor allocate_tensor(dtype type, shape_t shape);

  // Host memory this device copies to and from fastest (page-locked where that matters).
  virtual buffer allocate_staging(std::size_t bytes) { return buffer::allocate(bytes); }

  // Copies on the calling thread's stream; on an async device the bytes may land later
  // (`synchronize`). `host` pointers are ordinary host memory.
  virtual void copy_from_host(const std::byte* host, std::byte* to, std::size_t bytes) = 0;
  virtual void copy_to_host(const std::byte* from, std::byte* host, std::size_t bytes) = 0;
  virtual void copy_within(const std::byte* from, std::byte* to, std::size_t bytes) = 0;
  // A direct copy from `source`'s memory where this device has peer access to it. False when
  // it has none; the caller then stages the bytes through host memory.
  virtual bool copy_from_peer(const device& source, const std::byte* from, std::byte* to,
                              std::size_t bytes);

  // Waits until the work the calling thread queued on this device is done.
  virtual void synchronize() {}
  // An event after the work the calling thread queued so far.
  virtual std::unique_ptr<device_event> record();

  // Makes the calling thread this device's executor (pins it, selects the GPU and a stream).
  virtual void bind_thread() {}

  // Matrix product on this device (see gemm_args); throws std::invalid_argument for a dtype it
  // cannot multiply.
  virtual void gemm(const gemm_args& args) = 0;

  // Element-wise kernels on this device's memory, queued like `gemm`. Dense row-major f32 unless
  // a row stride (`ld…`, in elements) is given. The defaults run on the host where this device's
  // memory is host memory and otherwise throw std::runtime_error naming the device and kernel.
  //
  // out[r, :] = x[rows[r], :] for r < n, rows of d elements.
  virtual void gather_rows(const float* x, std::int64_t ldx, const std::int32_t* rows,
                           std::int64_t n, std::int64_t d, float* out);
  // h is [rows, 2·ff], gate then up: h[r, :ff] = silu(h[r, :ff]) ⊙ h[r, ff:]. The up half is
  // left as it was.
  virtual void swiglu_rows(float* h, std::int64_t rows, std::int64_t ff);
  // y[r, :] *= scale[r], y [rows, d].
  virtual void scale_rows(float* y, std::int64_t rows, std::int64_t d, const float* scale);
  // y[r, :] += bias, y [rows, cols] with row stride ldy, bias [cols].
  virtual void add_row_bias(float* y, std::int64_t rows, std::int64_t cols, std::int64_t ldy,
                            const float* bias);
  // out[r, :] = bf16(x[r, :]) rounded to nearest even (NaN stays NaN), x [rows, cols] with row
  // stride ldx, out dense: the activation side of a bf16 product.
  virtual void to_bf16(const float* x, std::int64_t rows, std::int64_t cols, std::int64_t ldx,
                       std::uint16_t* out);

 private:
  // Where a default kernel cannot run: throws, naming this device, its kind and `kernel`.
  [[noreturn]] void lacks_kernel(const char* kernel) const;
  bool in_host_memory() const { return memory_space() == host_memory_space; }

  std::string name_;
  std::string kind_;
  device_caps caps_;
};

// The built-in `cpu` device: every usable core, host memory. Stages driven without a runtime
// (tests, benchmarks) run here.
device& host_device();

}  // namespace loom
