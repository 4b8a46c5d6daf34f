// The peers the model benchmarks (bench_moe, bench_dense, bench_diffusion_step, bench_blas_choice)
// measure loom against in the same run: OpenBLAS's cblas_sgemm on given shapes and thread counts,
// and the PyTorch CPU scripts of bench/torch/, run as subprocesses of /usr/bin/python3 (Debian's
// PyTorch lives there; the `python3` on PATH may be another interpreter without torch).
// Header-only: each benchmark is one executable.
#pragma once

#include <cblas.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <optional>
#include <random>
#include <string>
#include <vector>

namespace loom::bench {

using clock_type = std::chrono::steady_clock;

inline double seconds_since(clock_type::time_point start) {
  return std::chrono::duration<double>(clock_type::now() - start).count();
}

// The fastest of `repeat` calls of `work`, in seconds, after one call that is not timed (it
// faults in pages and lets OpenBLAS start its threads).
inline double best_seconds(int repeat, const std::function<void()>& work) {
  work();
  double best = 0;
  for (int i = 0; i < repeat; ++i) {
    const auto start = clock_type::now();
    work();
    const double seconds = seconds_since(start);
    best = i == 0 ? seconds : std::min(best, seconds);
  }
  return best;
}

inline double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const auto n = v.size();
  return n == 0 ? 0 : n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

// Normally distributed values: products of the byte patterns synthetic_source makes would be
// NaNs and denormals, which run at another speed.
inline std::vector<float> random_values(std::size_t count, unsigned seed) {
  std::mt19937 generator(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> out(count);
  for (auto& v : out) v = normal(generator);
  return out;
}

// OpenBLAS's thread count, process-wide. A pinned cpu device sets it to 1 when it opens
// (devices/cpu/cpu_gemm.hpp), so a benchmark sets it again before every measurement that
// depends on it.
inline void set_blas_threads(int threads) { openblas_set_num_threads(threads); }

// C = A·B, row-major, no transposes, as cpu_gemm calls it.
inline void sgemm(std::int64_t m, std::int64_t n, std::int64_t k, const float* a, std::int64_t lda,
                  const float* b, std::int64_t ldb, float* c, std::int64_t ldc, float beta = 0) {
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, static_cast<int>(m), static_cast<int>(n),
              static_cast<int>(k), 1.0f, a, static_cast<int>(lda), b, static_cast<int>(ldb), beta,
              c, static_cast<int>(ldc));
}

// GFLOP/s of cblas_sgemm on an [m, k]·[k, n] product of random matrices with `threads` OpenBLAS
// threads: the best of `repeat`.
inline double sgemm_gflops(std::int64_t m, std::int64_t n, std::int64_t k, int threads,
                           int repeat) {
  auto a = random_values(static_cast<std::size_t>(m * k), 1);
  auto b = random_values(static_cast<std::size_t>(k * n), 2);
  std::vector<float> c(static_cast<std::size_t>(m * n));
  set_blas_threads(threads);
  const double seconds =
      best_seconds(repeat, [&] { sgemm(m, n, k, a.data(), k, b.data(), n, c.data(), n); });
  return 2.0 * static_cast<double>(m) * static_cast<double>(n) * static_cast<double>(k) / seconds /
         1e9;
}

// A PyTorch peer's one line of JSON, or why there is none.
struct torch_peer {
  std::optional<double> ms;  // its "ms" field
  std::string version;       // its "version" field
  std::string why_not;       // when `ms` is empty
};

// Runs bench/torch/SCRIPT (its folder is compiled in as LOOM_BENCH_TORCH_DIR) with `args`.
inline torch_peer run_torch_peer(const std::string& script, const std::string& args) {
  const std::string python = "/usr/bin/python3";
  torch_peer peer;
  if (std::system((python + " -c 'import torch' >/dev/null 2>&1").c_str()) != 0) {
    peer.why_not = python + " cannot import torch (PyTorch is not installed)";
    return peer;
  }
  const std::string command =
      python + " " + LOOM_BENCH_TORCH_DIR + "/" + script + " " + args + " 2>&1";
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) {
    peer.why_not = "could not start " + command;
    return peer;
  }
  std::string output;
  char chunk[4096];
  while (std::fgets(chunk, sizeof chunk, pipe) != nullptr) output += chunk;
  const int status = pclose(pipe);
  // Not a JSON parser: the peers print one flat object whose fields are plain values.
  auto field = [&](const std::string& key) -> std::optional<std::string> {
    auto at = output.find("\"" + key + "\": ");
    if (at == std::string::npos) return std::nullopt;
    at += key.size() + 4;
    auto end = output.find_first_of(",}", at);
    std::string value = output.substr(at, end - at);
    if (!value.empty() && value.front() == '"') value = value.substr(1, value.size() - 2);
    return value;
  };
  auto ms = field("ms");
  if (status != 0 || !ms) {
    peer.why_not = command + " failed: " + output;
    return peer;
  }
  peer.ms = std::stod(*ms);
  peer.version = field("version").value_or("?");
  return peer;
}

// The fastest of `runs` invocations. On the 2-core machine a PyTorch peer's figure moves by a
// factor of two to four from one invocation to the next (its OpenMP threads and OpenBLAS's
// threads spin against each other), so a ratio against one invocation would flatter loom.
inline torch_peer best_torch_peer(const std::string& script, const std::string& args, int runs) {
  torch_peer best;
  for (int run = 0; run < runs; ++run) {
    auto peer = run_torch_peer(script, args);
    if (!peer.ms) return peer;
    if (!best.ms || *peer.ms < *best.ms) best = peer;
  }
  return best;
}

}  // namespace loom::bench
