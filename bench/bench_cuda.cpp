// bench_cuda: the cuda device backend against the CUDA libraries called directly, in the same
// run, on the same GPU and the same memory, so the ratio shows what loom's layer costs.
//   (a) page-locked host <-> device copies of 1, 16, 64 and 256 MiB: staging buffers with
//       copy_from_host / copy_to_host and synchronize, against cudaMemcpy between
//       cudaHostAlloc'd and cudaMalloc'd memory. GB/s; target ratio ≥ 0.9.
//   (b) matrix products M = N = K = 4096 and 1024, f32 and bf16 (f32 out): cuda_device::gemm
//       queued back to back, against cublasSgemm / cublasGemmEx on a handle and stream of the
//       benchmark's own, on the same buffers. TFLOP/s; target ratio ≥ 0.9.
//   (c) the `matmul` stage, where it is built in, driven by hand through a stage_context (one
//       product, its output allocation and a synchronize per call), against a direct product and
//       stream synchronize per call.
// Each figure is the best of three rounds, alternating loom and the direct calls.
//
//   build/bench/bench_cuda
//
// Without a GPU (or without the cuda backend) it prints why and exits 0.
#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <functional>
#include <map>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "devices/device_registry.hpp"
#include "devices/float_convert.hpp"
#include "stages/registry.hpp"

using namespace loom;

namespace {

constexpr std::size_t mib = 1 << 20;
constexpr double target_ratio = 0.9;

void check(cudaError_t status, const char* call) {
  if (status != cudaSuccess)
    throw std::runtime_error(fmt::format("{} failed: {} ({})", call, cudaGetErrorName(status),
                                         cudaGetErrorString(status)));
}

void check(cublasStatus_t status, const char* call) {
  if (status != CUBLAS_STATUS_SUCCESS)
    throw std::runtime_error(fmt::format("{} failed: {} ({})", call, cublasGetStatusName(status),
                                         cublasGetStatusString(status)));
}

double seconds_of(const std::function<void()>& run) {
  const auto start = std::chrono::steady_clock::now();
  run();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// Best of three alternating rounds of each: the shortest time of loom's and of the direct run.
std::pair<double, double> best_of_three(const std::function<void()>& loom_run,
                                        const std::function<void()>& direct_run) {
  double loom_best = 1e30, direct_best = 1e30;
  for (int round = 0; round < 3; ++round) {
    loom_best = std::min(loom_best, seconds_of(loom_run));
    direct_best = std::min(direct_best, seconds_of(direct_run));
  }
  return {loom_best, direct_best};
}

std::string verdict(double ratio) { return ratio >= target_ratio ? "ok" : "BELOW TARGET"; }

// Owned raw CUDA memory for the direct side, freed however the benchmark ends.
struct raw_memory {
  void* host = nullptr;
  void* device = nullptr;
  explicit raw_memory(std::size_t bytes) {
    check(cudaHostAlloc(&host, bytes, cudaHostAllocDefault), "cudaHostAlloc");
    check(cudaMalloc(&device, bytes), "cudaMalloc");
  }
  ~raw_memory() {
    cudaFreeHost(host);
    cudaFree(device);
  }
  raw_memory(const raw_memory&) = delete;
  raw_memory& operator=(const raw_memory&) = delete;
};

void bench_copies(device& gpu) {
  fmt::print("\n(a) page-locked copies, one synchronize per copy\n");
  fmt::print("{:>8}  {:<15} {:>12} {:>12} {:>7}  {}\n", "size", "direction", "loom GB/s",
             "direct GB/s", "ratio", "target ≥ 0.90");
  for (std::size_t size_mib : {1, 16, 64, 256}) {
    const std::size_t bytes = size_mib * mib;
    const int copies = static_cast<int>(std::max<std::size_t>(4, (2048 * mib) / bytes));
    buffer staging = gpu.allocate_staging(bytes);
    buffer on_gpu = gpu.allocate(bytes);
    raw_memory raw(bytes);
    std::fill_n(staging.data(), bytes, std::byte{0x5a});
    std::fill_n(static_cast<std::byte*>(raw.host), bytes, std::byte{0x5a});

    for (bool up : {true, false}) {
      auto loom_run = [&] {
        for (int i = 0; i < copies; ++i) {
          if (up)
            gpu.copy_from_host(staging.data(), on_gpu.data(), bytes);
          else
            gpu.copy_to_host(on_gpu.data(), staging.data(), bytes);
          gpu.synchronize();
        }
      };
      auto direct_run = [&] {
        for (int i = 0; i < copies; ++i)
          check(up ? cudaMemcpy(raw.device, raw.host, bytes, cudaMemcpyHostToDevice)
                   : cudaMemcpy(raw.host, raw.device, bytes, cudaMemcpyDeviceToHost),
                "cudaMemcpy");
      };
      loom_run();
      direct_run();
      const auto [loom_s, direct_s] = best_of_three(loom_run, direct_run);
      const double moved = static_cast<double>(bytes) * copies;
      const double ratio = direct_s / loom_s;
      fmt::print("{:>5} MiB  {:<15} {:>12.1f} {:>12.1f} {:>7.2f}  {}\n", size_mib,
                 up ? "host -> device" : "device -> host", moved / loom_s / 1e9,
                 moved / direct_s / 1e9, ratio, verdict(ratio));
    }
  }
}

// Operands of one product shape in the GPU's memory, filled with random values (products on
// zeros run faster than on real data).
struct operands {
  std::int64_t m, n, k;
  dtype type;
  buffer a, b, c;
};

operands make_operands(device& gpu, std::int64_t size, dtype type) {
  operands o{size, size, size, type, {}, {}, {}};
  std::mt19937 random(7);
  std::uniform_real_distribution<float> unit(-1.0f, 1.0f);
  auto fill = [&](std::int64_t count) {
    const std::size_t element = size_of(type);
    std::vector<std::byte> host(static_cast<std::size_t>(count) * element);
    for (std::int64_t i = 0; i < count; ++i) {
      const float value = unit(random);
      if (type == dtype::f32) {
        std::memcpy(host.data() + i * 4, &value, 4);
      } else {
        const std::uint16_t half = bf16_from_f32(value);
        std::memcpy(host.data() + i * 2, &half, 2);
      }
    }
    buffer memory = gpu.allocate(host.size());
    gpu.copy_from_host(host.data(), memory.data(), host.size());
    gpu.synchronize();
    return memory;
  };
  o.a = fill(o.m * o.k);
  o.b = fill(o.k * o.n);
  o.c = gpu.allocate(static_cast<std::size_t>(o.m * o.n) * 4);
  // Allocations are ordered on loom's stream; the direct calls use them from another.
  gpu.synchronize();
  return o;
}

gemm_args args_for(const operands& o) {
  gemm_args args;
  args.type = o.type;
  args.out_type = dtype::f32;
  args.m = o.m;
  args.n = o.n;
  args.k = o.k;
  args.a = o.a.data();
  args.lda = o.k;
  args.b = o.b.data();
  args.ldb = o.n;
  args.c = o.c.data();
  args.ldc = o.n;
  return args;
}

// The same product as cuda_device::gemm, called directly: row-major C = A·B as column-major
// Cᵀ = Bᵀ·Aᵀ.
class direct_gemm {
 public:
  direct_gemm() {
    check(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking), "cudaStreamCreateWithFlags");
    check(cublasCreate(&blas_), "cublasCreate");
    check(cublasSetStream(blas_, stream_), "cublasSetStream");
  }
  ~direct_gemm() {
    cublasDestroy(blas_);
    cudaStreamDestroy(stream_);
  }
  direct_gemm(const direct_gemm&) = delete;
  direct_gemm& operator=(const direct_gemm&) = delete;

  void run(const operands& o) {
    const float alpha = 1.0f, beta = 0.0f;
    const int m = static_cast<int>(o.m), n = static_cast<int>(o.n), k = static_cast<int>(o.k);
    if (o.type == dtype::f32) {
      check(cublasSgemm(blas_, CUBLAS_OP_N, CUBLAS_OP_N, n, m, k, &alpha,
                        reinterpret_cast<const float*>(o.b.data()), n,
                        reinterpret_cast<const float*>(o.a.data()), k, &beta,
                        reinterpret_cast<float*>(o.c.data()), n),
            "cublasSgemm");
    } else {
      check(cublasGemmEx(blas_, CUBLAS_OP_N, CUBLAS_OP_N, n, m, k, &alpha, o.b.data(), CUDA_R_16BF,
                         n, o.a.data(), CUDA_R_16BF, k, &beta, o.c.data(), CUDA_R_32F, n,
                         CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
            "cublasGemmEx");
    }
  }
  void synchronize() { check(cudaStreamSynchronize(stream_), "cudaStreamSynchronize"); }

 private:
  cudaStream_t stream_ = nullptr;
  cublasHandle_t blas_ = nullptr;
};

// Products per round: enough for about a quarter of a second, from a timed trial of three.
int products_per_round(const std::function<void()>& one, const std::function<void()>& wait) {
  const double trial = seconds_of([&] {
    for (int i = 0; i < 3; ++i) one();
    wait();
  });
  return std::clamp(static_cast<int>(0.25 / (trial / 3)), 10, 5000);
}

struct product_shape {
  std::int64_t size;
  dtype type;
};

constexpr product_shape shapes[] = {
    {4096, dtype::f32}, {4096, dtype::bf16}, {1024, dtype::f32}, {1024, dtype::bf16}};

std::string shape_name(const product_shape& s) {
  return fmt::format("{}³ {}", s.size, name_of(s.type));
}

void bench_products(device& gpu, direct_gemm& direct) {
  fmt::print("\n(b) matrix products, queued back to back (f32 out; f32 without TF32)\n");
  fmt::print("{:<12} {:>8} {:>12} {:>12} {:>7}  {}\n", "shape", "calls", "loom TFLOP/s",
             "direct", "ratio", "target ≥ 0.90");
  for (const auto& shape : shapes) {
    const auto o = make_operands(gpu, shape.size, shape.type);
    const auto args = args_for(o);
    const int calls = products_per_round([&] { direct.run(o); }, [&] { direct.synchronize(); });
    auto loom_run = [&] {
      for (int i = 0; i < calls; ++i) gpu.gemm(args);
      gpu.synchronize();
    };
    auto direct_run = [&] {
      for (int i = 0; i < calls; ++i) direct.run(o);
      direct.synchronize();
    };
    loom_run();
    direct_run();
    const auto [loom_s, direct_s] = best_of_three(loom_run, direct_run);
    const double flops = 2.0 * static_cast<double>(o.m * o.n) * static_cast<double>(o.k) * calls;
    const double ratio = direct_s / loom_s;
    fmt::print("{:<12} {:>8} {:>12.1f} {:>12.1f} {:>7.2f}  {}\n", shape_name(shape), calls,
               flops / loom_s / 1e12, flops / direct_s / 1e12, ratio, verdict(ratio));
  }
}

void bench_matmul_stage(device& gpu, direct_gemm& direct) {
  const auto stages = stage_registry::with_builtins();
  const auto* spec = stages.find("matmul");
  fmt::print("\n(c) the matmul stage, process() by hand, one synchronize per call\n");
  if (!spec) {
    fmt::print("no `matmul` stage is built in: skipped\n");
    return;
  }
  fmt::print("{:<12} {:>8} {:>12} {:>12} {:>7}  {}\n", "shape", "calls", "stage TFLOP/s",
             "direct", "ratio", "target ≥ 0.90");
  for (const auto& shape : shapes) {
    const auto o = make_operands(gpu, shape.size, shape.type);
    param_values values({{"k", o.k}, {"n", o.n}, {"weights", std::string("random:7")}});
    stage_context context("matmul", *spec, values, gpu.name());
    context.set_device(gpu);
    auto matmul = spec->make();
    matmul->open(context);
    packet input;
    input.tensors.push_back({"data", tensor(o.type, {o.m, o.k}, o.a, gpu.memory_space())});
    const packet_ptr in = std::make_shared<const packet>(std::move(input));
    auto call = [&] {
      context.set_input(0, in);
      matmul->process(context);
      context.emitted().clear();
    };
    call();  // loads the weights
    const int calls = products_per_round(
        [&] {
          direct.run(o);
          direct.synchronize();
        },
        [] {});
    auto stage_run = [&] {
      for (int i = 0; i < calls; ++i) call();
    };
    auto direct_run = [&] {
      for (int i = 0; i < calls; ++i) {
        direct.run(o);
        direct.synchronize();
      }
    };
    const auto [stage_s, direct_s] = best_of_three(stage_run, direct_run);
    matmul->close(context);
    const double flops = 2.0 * static_cast<double>(o.m * o.n) * static_cast<double>(o.k) * calls;
    const double ratio = direct_s / stage_s;
    fmt::print("{:<12} {:>8} {:>12.1f} {:>12.1f} {:>7.2f}  {}\n", shape_name(shape), calls,
               flops / stage_s / 1e12, flops / direct_s / 1e12, ratio, verdict(ratio));
  }
}

}  // namespace

int main() {
  try {
    const auto devices = device_registry::standard();
    const auto* kind = devices.find("cuda");
    if (!kind) {
      fmt::print("loom was built without the cuda backend: skipped\n");
      return 0;
    }
    const auto gpus = kind->detect();
    if (gpus.empty()) {
      fmt::print("no GPU: skipped\n");
      return 0;
    }
    fmt::print("bench_cuda on {}: {}\n", gpus.front().name, gpus.front().description);
    std::map<std::string, param_value, std::less<>> values;
    for (const auto& spec : kind->params)
      if (spec.default_value) values[spec.key] = *spec.default_value;
    auto gpu = kind->open("gpu0", param_values(std::move(values)), {});
    gpu->bind_thread();
    direct_gemm direct;
    bench_copies(*gpu);
    bench_products(*gpu, direct);
    bench_matmul_stage(*gpu, direct);
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_cuda: %s\n", e.what());
    return 1;
  }
}
