// OpenBLAS or oneDNN for loom's CPU matrix products (issue 4: "measure both on the shapes that
// matter and say why you chose"): cblas_sgemm against dnnl_sgemm, both row-major with no
// transposes, as cpu_gemm calls the former, on the products the model stages make: MoE experts
// (about 128 routed rows each at T = 1024, top-2 of 16), the shared expert and the router,
// encoder projections, attention's score products, and a large square product for reference;
// one and two threads each.
//
//   build/bench/bench_blas_choice [--rounds N]
//
// Built only where CMake finds oneDNN (Debian: libdnnl-dev). Each measurement repeats a product
// for about 30 ms. The libraries' worker pools keep spinning for a while after their last call
// and would take cores from the other library, so each shape runs in blocks, one library at a
// time with a pause between, two blocks per library alternating; the best round counts.
// OpenBLAS picks its kernels when it loads: the header names them, and OPENBLAS_CORETYPE
// overrides the choice (docs/benchmarks.md).
#include <oneapi/dnnl/dnnl.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "bench_peers.hpp"

using namespace loom;

namespace {

struct product {
  std::string what;
  std::int64_t m, n, k;
  double flops() const {
    return 2.0 * static_cast<double>(m) * static_cast<double>(n) * static_cast<double>(k);
  }
};

const std::vector<product> products{
    {"moe expert gate|up, 128 rows", 128, 1024, 1024},
    {"moe expert down, 128 rows", 128, 1024, 512},
    {"moe shared gate|up, 1024 rows", 1024, 1024, 1024},
    {"moe shared down, 1024 rows", 1024, 1024, 512},
    {"moe router, 1024 tokens", 1024, 16, 1024},
    {"encoder q|k|v, 64 rows, d 256", 64, 768, 256},
    {"encoder o, 64 rows, d 256", 64, 256, 256},
    {"encoder q|k|v, 256 rows, d 512", 256, 1536, 512},
    {"encoder mlp down, 256 rows, 1024→512", 256, 512, 1024},
    {"encoder q|k|v, 1024 rows, d 1024", 1024, 3072, 1024},
    {"attention q·kᵀ, T 256, head 64", 256, 256, 64},
    {"attention p·v, T 256, head 64", 256, 64, 256},
    {"attention q·kᵀ, T 1024, head 64", 1024, 1024, 64},
    {"attention p·v, T 1024, head 64", 1024, 64, 1024},
    {"square 2048³", 2048, 2048, 2048},
};

void dnnl_product(const product& p, const float* a, const float* b, float* c) {
  if (dnnl_sgemm('N', 'N', p.m, p.n, p.k, 1.0f, a, p.k, b, p.n, 0.0f, c, p.n) != dnnl_success) {
    std::fprintf(stderr, "bench_blas_choice: dnnl_sgemm failed on %s\n", p.what.c_str());
    std::exit(1);
  }
}

// GFLOP/s of `run` (one product) repeated for about 30 ms, best of `rounds`.
double rate(const product& p, int rounds, const std::function<void()>& run) {
  run();
  const auto start = bench::clock_type::now();
  run();
  const int repeat =
      std::max(1, static_cast<int>(0.03 / std::max(1e-7, bench::seconds_since(start))));
  double best = 0;
  for (int round = 0; round < rounds; ++round) {
    const auto begin = bench::clock_type::now();
    for (int i = 0; i < repeat; ++i) run();
    best = std::max(best, p.flops() * repeat / bench::seconds_since(begin) / 1e9);
  }
  return best;
}

void settle() { std::this_thread::sleep_for(std::chrono::milliseconds(150)); }

}  // namespace

int main(int argc, char** argv) {
  int rounds = 3;
  for (int i = 1; i + 1 < argc; ++i)
    if (std::string(argv[i]) == "--rounds") rounds = std::max(1, std::stoi(argv[i + 1]));

  const auto* version = dnnl_version();
  fmt::print(
      "cblas_sgemm ({}; {} kernels) against dnnl_sgemm (oneDNN {}.{}.{}), f32 "
      "row-major NN, GFLOP/s, best of {} rounds in 2 blocks per library\n",
      openblas_get_config(), openblas_get_corename(), version->major, version->minor,
      version->patch, rounds);
  if (__builtin_cpu_supports("avx512f") && std::string(openblas_get_corename()) == "Haswell")
    fmt::print(
        "note: this CPU has AVX-512 but OpenBLAS chose its Haswell (AVX2) kernels; "
        "OPENBLAS_CORETYPE=SkylakeX selects its AVX-512 ones\n");
  fmt::print("\n{:<38} {:>16} | {:>9} {:>9} {:>6} | {:>9} {:>9} {:>6}\n", "", "m×n×k", "1 thread",
             "", "", "2 threads", "", "");
  fmt::print("{:<38} {:>16} | {:>9} {:>9} {:>6} | {:>9} {:>9} {:>6}\n", "product", "", "OpenBLAS",
             "oneDNN", "ratio", "OpenBLAS", "oneDNN", "ratio");
  double log_sum[2] = {0, 0};
  for (const auto& p : products) {
    const auto a = bench::random_values(static_cast<std::size_t>(p.m * p.k), 1);
    const auto b = bench::random_values(static_cast<std::size_t>(p.k * p.n), 2);
    std::vector<float> c_blas(static_cast<std::size_t>(p.m * p.n)), c_dnnl(c_blas.size());
    bench::sgemm(p.m, p.n, p.k, a.data(), p.k, b.data(), p.n, c_blas.data(), p.n);
    dnnl_product(p, a.data(), b.data(), c_dnnl.data());
    for (std::size_t i = 0; i < c_blas.size(); ++i)
      if (std::fabs(c_blas[i] - c_dnnl[i]) > 1e-3f * (1.0f + std::fabs(c_blas[i]))) {
        std::fprintf(stderr, "bench_blas_choice: the libraries disagree on %s at %zu: %g vs %g\n",
                     p.what.c_str(), i, c_blas[i], c_dnnl[i]);
        return 1;
      }
    std::string line =
        fmt::format("{:<38} {:>16} |", p.what, fmt::format("{}×{}×{}", p.m, p.n, p.k));
    for (int threads : {1, 2}) {
      bench::set_blas_threads(threads);
      omp_set_num_threads(threads);
      double blas = 0, dnnl = 0;
      for (int block = 0; block < 2; ++block) {
        settle();
        blas = std::max(blas, rate(p, rounds, [&] {
                          bench::sgemm(p.m, p.n, p.k, a.data(), p.k, b.data(), p.n, c_blas.data(),
                                       p.n);
                        }));
        settle();
        dnnl = std::max(
            dnnl, rate(p, rounds, [&] { dnnl_product(p, a.data(), b.data(), c_dnnl.data()); }));
      }
      log_sum[threads - 1] += std::log(dnnl / blas);
      line += fmt::format(" {:>9.1f} {:>9.1f} {:>6.2f} |", blas, dnnl, dnnl / blas);
    }
    fmt::print("{}\n", line);
    std::fflush(stdout);
  }
  const double n = static_cast<double>(products.size());
  fmt::print(
      "\noneDNN vs OpenBLAS, geometric mean over the products: {:.2f}x on 1 thread, "
      "{:.2f}x on 2 threads\n",
      std::exp(log_sum[0] / n), std::exp(log_sum[1] / n));
  return 0;
}
