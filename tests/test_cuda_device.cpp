// The cuda device backend, through loom's public device API only, so this test builds with or
// without the CUDA toolkit. Everywhere: the `cuda` kind (when built) describes declared GPUs
// without opening anything and refuses to open one that is not there, with a message naming the
// index. On a machine with a GPU: pooled memory and its limit, copies (pageable and page-locked),
// transfers to and from the cpu, events, matrix products against a double-precision reference,
// and two executor threads copying at once. Without a GPU those cases are skipped, not failed.
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <map>
#include <mutex>
#include <random>
#include <thread>

#include <fmt/format.h>

#include "devices/device_registry.hpp"
#include "devices/float_convert.hpp"
#include "devices/transfer.hpp"

using namespace loom;

namespace {

constexpr std::size_t mib = 1 << 20;

const device_registry& registry() {
  static const device_registry standard = device_registry::standard();
  return standard;
}

const device_kind* cuda_kind() { return registry().find("cuda"); }

std::size_t gpu_count() {
  static const std::size_t count = cuda_kind() ? cuda_kind()->detect().size() : 0;
  return count;
}

// Skips a case, with the reason in the log, where there is nothing to run it on.
boost::test_tools::assertion_result has_gpu(boost::unit_test::test_unit_id) {
  boost::test_tools::assertion_result result(cuda_kind() && gpu_count() > 0);
  if (!cuda_kind())
    result.message() << "loom was built without the cuda backend: skipped";
  else if (gpu_count() == 0)
    result.message() << "no CUDA GPU: skipped";
  return result;
}

// The kind's defaults with some values replaced, as the graph loader would fill them in.
param_values cuda_params(const std::map<std::string, param_value>& changes = {}) {
  std::map<std::string, param_value, std::less<>> values;
  for (const auto& spec : cuda_kind()->params)
    if (spec.default_value) values[spec.key] = *spec.default_value;
  for (const auto& [key, value] : changes) values[key] = value;
  return param_values(std::move(values));
}

std::unique_ptr<device> open_gpu(const std::string& memory = "0") {
  return cuda_kind()->open("gpu", cuda_params({{"memory", memory}}), {});
}

std::string message_of(const std::function<void()>& call) {
  try {
    call();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "no error";
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

std::vector<std::byte> random_bytes(std::size_t count, unsigned seed) {
  std::mt19937 random(seed);
  std::vector<std::byte> bytes(count);
  for (auto& b : bytes) b = static_cast<std::byte>(random() & 0xff);
  return bytes;
}

buffer upload(device& gpu, const void* host, std::size_t bytes) {
  auto memory = gpu.allocate(bytes);
  gpu.copy_from_host(static_cast<const std::byte*>(host), memory.data(), bytes);
  gpu.synchronize();
  return memory;
}

template <class T>
std::vector<T> download(device& gpu, const buffer& memory, std::size_t count) {
  std::vector<T> host(count);
  gpu.copy_to_host(memory.data(), reinterpret_cast<std::byte*>(host.data()), count * sizeof(T));
  gpu.synchronize();
  return host;
}

// A row-major matrix with rows wider than its columns (`ld` > `cols`), the padding poisoned, so a
// product that ignores the leading dimension reads garbage and fails the comparison.
struct matrix {
  std::int64_t rows, cols, ld;
  std::vector<float> values;  // rows × ld
};

constexpr float poison = 1e30f;

matrix random_matrix(std::int64_t rows, std::int64_t cols, std::int64_t pad, std::mt19937& random) {
  matrix m{rows, cols, cols + pad, {}};
  m.values.assign(static_cast<std::size_t>(rows * m.ld), poison);
  std::uniform_real_distribution<float> unit(-1.0f, 1.0f);
  for (std::int64_t r = 0; r < rows; ++r)
    for (std::int64_t c = 0; c < cols; ++c) m.values[static_cast<std::size_t>(r * m.ld + c)] = unit(random);
  return m;
}

float at(const matrix& m, std::int64_t r, std::int64_t c) {
  return m.values[static_cast<std::size_t>(r * m.ld + c)];
}

// The matrix's values rounded to `type` (f32: unchanged), and their bytes in that type.
std::vector<std::uint16_t> to_half(const matrix& m, dtype type) {
  std::vector<std::uint16_t> bits(m.values.size());
  for (std::size_t i = 0; i < bits.size(); ++i) {
    const float v = m.values[i] == poison ? 0.0f : m.values[i];
    bits[i] = type == dtype::bf16 ? bf16_from_f32(v) : f16_from_f32(v);
  }
  return bits;
}

matrix rounded(const matrix& m, dtype type) {
  matrix r = m;
  if (type == dtype::f32) return r;
  auto bits = to_half(m, type);
  for (std::size_t i = 0; i < bits.size(); ++i) {
    if (m.values[i] == poison) continue;
    r.values[i] = type == dtype::bf16 ? f32_from_bf16(bits[i]) : f32_from_f16(bits[i]);
  }
  return r;
}

// Multiplies on the GPU in `type` (C in `out_type`) and checks every element against a
// double-precision product of the same (rounded) inputs, within `tolerance` of the sum of the
// magnitudes that went into it, and that C's padding is untouched.
void check_gemm(device& gpu, dtype type, dtype out_type, std::int64_t m, std::int64_t n,
                std::int64_t k, float alpha, float beta, double tolerance) {
  std::mt19937 random(static_cast<unsigned>(m * 131 + n * 17 + k));
  const matrix a = rounded(random_matrix(m, k, 3, random), type);
  const matrix b = rounded(random_matrix(k, n, 5, random), type);
  const matrix c0 = rounded(random_matrix(m, n, 2, random), out_type);

  auto put = [&](const matrix& x, dtype as) {
    if (as == dtype::f32) return upload(gpu, x.values.data(), x.values.size() * 4);
    auto bits = to_half(x, as);
    return upload(gpu, bits.data(), bits.size() * 2);
  };
  buffer da = put(a, type), db = put(b, type), dc = put(c0, out_type);

  gemm_args args;
  args.type = type;
  args.out_type = out_type;
  args.m = m;
  args.n = n;
  args.k = k;
  args.a = da.data();
  args.lda = a.ld;
  args.b = db.data();
  args.ldb = b.ld;
  args.c = dc.data();
  args.ldc = c0.ld;
  args.alpha = alpha;
  args.beta = beta;
  gpu.gemm(args);
  gpu.synchronize();

  std::vector<float> c(c0.values.size());
  if (out_type == dtype::f32) {
    c = download<float>(gpu, dc, c.size());
  } else {
    auto bits = download<std::uint16_t>(gpu, dc, c.size());
    for (std::size_t i = 0; i < c.size(); ++i)
      c[i] = out_type == dtype::bf16 ? f32_from_bf16(bits[i]) : f32_from_f16(bits[i]);
  }

  int wrong = 0;
  double worst = 0;
  for (std::int64_t r = 0; r < m; ++r) {
    for (std::int64_t col = 0; col < n; ++col) {
      double sum = 0, magnitude = 0;
      for (std::int64_t i = 0; i < k; ++i) {
        const double term = static_cast<double>(at(a, r, i)) * at(b, i, col);
        sum += term;
        magnitude += std::abs(term);
      }
      const double expected = alpha * sum + beta * static_cast<double>(at(c0, r, col));
      const double scale = std::abs(alpha) * magnitude + std::abs(beta * at(c0, r, col)) + 1e-6;
      const double error = std::abs(c[static_cast<std::size_t>(r * c0.ld + col)] - expected) / scale;
      worst = std::max(worst, error);
      if (error > tolerance) ++wrong;
    }
    for (std::int64_t col = n; col < c0.ld; ++col) {
      const float pad = c[static_cast<std::size_t>(r * c0.ld + col)];
      const float original = c0.values[static_cast<std::size_t>(r * c0.ld + col)];
      // A poisoned f32 pad reads back as itself; in bf16/f16 it was uploaded as 0.
      if (pad != (out_type == dtype::f32 ? original : 0.0f)) ++wrong;
    }
  }
  BOOST_TEST_MESSAGE(fmt::format("gemm {}→{} {}×{}×{}: worst relative error {:.2e}", name_of(type),
                                 name_of(out_type), m, n, k, worst));
  BOOST_TEST(wrong == 0, fmt::format("{} elements of the {}→{} {}×{}×{} product are off (worst "
                                     "{:.2e}, tolerance {:.0e})",
                                     wrong, name_of(type), name_of(out_type), m, n, k, worst,
                                     tolerance));
}

}  // namespace

BOOST_AUTO_TEST_CASE(the_cuda_kind_describes_declared_gpus_and_refuses_missing_ones) {
  const auto* kind = cuda_kind();
  if (!kind) {
    BOOST_TEST_MESSAGE("loom was built without the cuda backend: no cuda kind to check");
    BOOST_TEST(registry().find("cpu") != nullptr);
    return;
  }
  const auto caps = kind->describe("gpu0", cuda_params(), {});
  BOOST_TEST(caps.memory_space == "cuda:0");
  BOOST_TEST(caps.async);
  BOOST_TEST(caps.memory_total > 0u);
  BOOST_TEST(caps.flops > 0);
  BOOST_TEST(caps.copy_bytes_per_s > 0);
  BOOST_TEST((std::find(caps.compute_dtypes.begin(), caps.compute_dtypes.end(), dtype::bf16) !=
              caps.compute_dtypes.end()));

  const auto declared = kind->describe(
      "gpu1", cuda_params({{"gpu", std::int64_t{1}}, {"memory", std::string("2GiB")},
                           {"gflops", 1000.0}, {"copy_gbps", 12.5}}),
      {2, 3});
  BOOST_TEST(declared.memory_space == "cuda:1");
  BOOST_TEST(declared.memory_total == 2ull << 30);
  BOOST_TEST(declared.flops == 1e12);
  BOOST_TEST(declared.copy_bytes_per_s == 12.5e9);
  BOOST_TEST((declared.cores == std::vector<int>{2, 3}));

  BOOST_TEST(kind->describe("g", cuda_params({{"memory", std::string("1.5 GB")}}), {}).memory_total ==
             1500000000u);
  BOOST_TEST(kind->describe("g", cuda_params({{"memory", std::string("512mib")}}), {}).memory_total ==
             512u * mib);
  const auto bad = message_of(
      [&] { kind->describe("gpu0", cuda_params({{"memory", std::string("12 parsecs")}}), {}); });
  BOOST_TEST(contains(bad, "device 'gpu0': memory = \"12 parsecs\" is not a size"), bad);

  // One past the last GPU: absent on every machine, with or without GPUs.
  const auto count = static_cast<std::int64_t>(gpu_count());
  const auto missing = message_of([&] { kind->open("far", cuda_params({{"gpu", count}}), {}); });
  BOOST_TEST(contains(missing, fmt::format("device 'far': no CUDA GPU with index {} (this machine "
                                           "has {}",
                                           count, count)),
             missing);
  BOOST_TEST(kind->describe("far", cuda_params({{"gpu", count}}), {}).flops > 0);
}

BOOST_AUTO_TEST_CASE(detect_lists_each_gpu_by_its_graph_name) {
  const auto* kind = cuda_kind();
  if (!kind) {
    BOOST_TEST_MESSAGE("loom was built without the cuda backend: nothing to detect");
    BOOST_TEST(registry().find("cuda") == nullptr);
    return;
  }
  const auto found = kind->detect();
  BOOST_TEST_MESSAGE(fmt::format("{} CUDA GPU(s)", found.size()));
  for (std::size_t i = 0; i < found.size(); ++i) {
    BOOST_TEST_MESSAGE(found[i].name << ": " << found[i].description);
    BOOST_TEST(found[i].name == fmt::format("cuda:{}", i));
    BOOST_TEST(contains(found[i].description, " GiB, sm_"), found[i].description);
    BOOST_TEST(found[i].caps.memory_space == found[i].name);
  }
  BOOST_TEST(found.size() == gpu_count());
}

BOOST_AUTO_TEST_CASE(memory_is_pooled_and_counted_against_the_limit,
                     *boost::unit_test::precondition(has_gpu)) {
  auto gpu = open_gpu("64MiB");
  BOOST_TEST(gpu->kind() == "cuda");
  BOOST_TEST(gpu->memory_space() == "cuda:0");
  BOOST_TEST(gpu->caps().memory_total == 64 * mib);
  const auto before = gpu->memory_free();
  BOOST_TEST(before == 64 * mib);
  {
    auto block = gpu->allocate(mib);
    BOOST_TEST(block.size() == mib);
    BOOST_TEST(reinterpret_cast<std::uintptr_t>(block.data()) % 64 == 0u);
    BOOST_TEST(gpu->memory_free() == before - mib);
    auto t = gpu->allocate_tensor(dtype::f32, {512, 512});  // 1 MiB
    BOOST_TEST(t.device() == "cuda:0");
    BOOST_TEST(gpu->memory_free() == before - 2 * mib);
  }
  BOOST_TEST(gpu->memory_free() == before);

  // The last view may go on any thread, one that never touched the GPU included.
  auto elsewhere = gpu->allocate(4096);
  std::thread([block = std::move(elsewhere)]() mutable { block = buffer(); }).join();
  BOOST_TEST(gpu->memory_free() == before);
}

BOOST_AUTO_TEST_CASE(past_the_limit_allocations_fail_with_sizes_and_the_device_named,
                     *boost::unit_test::precondition(has_gpu)) {
  auto gpu = open_gpu("64MiB");
  auto held = gpu->allocate(48 * mib);
  bool thrown = false;
  try {
    gpu->allocate(32 * mib);
  } catch (const device_out_of_memory& e) {
    thrown = true;
    BOOST_TEST(e.device() == "gpu");
    BOOST_TEST(e.wanted() == 32 * mib);
    BOOST_TEST(e.free() == 16 * mib);
    BOOST_TEST(contains(e.what(), "device 'gpu' is out of memory: 33554432 bytes (32.0 MiB) "
                                  "wanted, 16777216 bytes (16.0 MiB) free"),
               e.what());
  }
  BOOST_TEST(thrown);
  held = buffer();
  BOOST_TEST(gpu->allocate(32 * mib).size() == 32 * mib);
}

BOOST_AUTO_TEST_CASE(bytes_go_to_the_gpu_and_back_from_pageable_and_page_locked_memory,
                     *boost::unit_test::precondition(has_gpu)) {
  auto gpu = open_gpu();
  const std::size_t bytes = 8 * mib + 12345;
  const auto pattern = random_bytes(bytes, 1);
  auto first = gpu->allocate(bytes), second = gpu->allocate(bytes);

  gpu->copy_from_host(pattern.data(), first.data(), bytes);
  gpu->copy_within(first.data(), second.data(), bytes);
  std::vector<std::byte> back(bytes);
  gpu->copy_to_host(second.data(), back.data(), bytes);
  gpu->synchronize();
  BOOST_TEST(std::memcmp(back.data(), pattern.data(), bytes) == 0);

  const auto other = random_bytes(bytes, 2);
  auto up = gpu->allocate_staging(bytes), down = gpu->allocate_staging(bytes);
  BOOST_TEST(up.size() == bytes);
  std::memcpy(up.data(), other.data(), bytes);
  gpu->copy_from_host(up.data(), second.data(), bytes);
  gpu->copy_within(second.data(), first.data(), bytes);
  gpu->copy_to_host(first.data(), down.data(), bytes);
  gpu->synchronize();
  BOOST_TEST(std::memcmp(down.data(), other.data(), bytes) == 0);

  // Pinning is slow, so a released staging buffer is kept and handed out again.
  const auto* pinned = up.data();
  up = buffer();
  BOOST_TEST(gpu->allocate_staging(bytes).data() == pinned);

  BOOST_TEST(!gpu->copy_from_peer(host_device(), pattern.data(), first.data(), bytes));
}

BOOST_AUTO_TEST_CASE(tensors_transfer_between_cpu_and_cuda,
                     *boost::unit_test::precondition(has_gpu)) {
  auto gpu = open_gpu();
  auto host = tensor::zeros(dtype::f32, {64, 33});
  for (std::int64_t i = 0; i < host.numel(); ++i) host.data<float>()[i] = 0.5f * static_cast<float>(i);

  const auto on_gpu = transfer(host, host_device(), *gpu);
  BOOST_TEST(on_gpu.device() == "cuda:0");
  BOOST_TEST((on_gpu.shape() == host.shape()));
  const auto back = transfer(on_gpu, *gpu, host_device());
  BOOST_TEST(back.device() == "cpu");
  BOOST_TEST(std::memcmp(back.raw(), host.raw(), host.nbytes()) == 0);

  // Every other column: made dense on the way.
  const tensor strided(dtype::f32, {64, 16}, {33, 2}, host.memory());
  const auto dense = transfer(transfer(strided, host_device(), *gpu), *gpu, host_device());
  bool equal = true;
  for (std::int64_t r = 0; r < 64; ++r)
    for (std::int64_t c = 0; c < 16; ++c)
      equal = equal && dense.data<float>()[r * 16 + c] == host.data<float>()[r * 33 + 2 * c];
  BOOST_TEST(equal);
}

BOOST_AUTO_TEST_CASE(events_mark_points_in_the_thread_stream,
                     *boost::unit_test::precondition(has_gpu)) {
  auto gpu = open_gpu();
  const std::size_t bytes = 64 * mib;
  auto staging = gpu->allocate_staging(bytes);
  auto memory = gpu->allocate(bytes);
  gpu->copy_from_host(staging.data(), memory.data(), bytes);
  auto after_copy = gpu->record();
  after_copy->wait();
  BOOST_TEST(after_copy->done());

  gpu->copy_to_host(memory.data(), staging.data(), bytes);
  auto after_return = gpu->record();
  gpu->synchronize();
  BOOST_TEST(after_return->done());
}

BOOST_AUTO_TEST_CASE(f32_products_match_the_reference, *boost::unit_test::precondition(has_gpu)) {
  auto gpu = open_gpu();
  check_gemm(*gpu, dtype::f32, dtype::f32, 67, 45, 129, 1.0f, 0.0f, 1e-4);
  check_gemm(*gpu, dtype::f32, dtype::f32, 256, 320, 1000, 1.5f, 0.5f, 1e-4);
  check_gemm(*gpu, dtype::f32, dtype::f32, 1, 1, 1, 2.0f, 0.0f, 1e-4);
}

BOOST_AUTO_TEST_CASE(bf16_and_f16_products_match_the_reference,
                     *boost::unit_test::precondition(has_gpu)) {
  auto gpu = open_gpu();
  check_gemm(*gpu, dtype::bf16, dtype::f32, 96, 80, 200, 1.0f, 0.0f, 1e-2);
  check_gemm(*gpu, dtype::bf16, dtype::bf16, 96, 80, 200, 1.0f, 0.0f, 1e-2);
  check_gemm(*gpu, dtype::f16, dtype::f32, 130, 64, 257, 1.0f, 0.5f, 1e-2);
  check_gemm(*gpu, dtype::f16, dtype::f16, 33, 47, 64, 1.0f, 0.0f, 1e-2);
}

BOOST_AUTO_TEST_CASE(products_it_cannot_run_are_refused, *boost::unit_test::precondition(has_gpu)) {
  auto gpu = open_gpu();
  auto memory = gpu->allocate(4096);
  gemm_args args;
  args.m = args.n = args.k = 4;
  args.a = memory.data();
  args.b = memory.data() + 1024;
  args.c = memory.data() + 2048;
  args.lda = args.ldb = args.ldc = 4;
  args.type = dtype::i32;
  BOOST_CHECK_THROW(gpu->gemm(args), std::invalid_argument);
  args.type = dtype::f32;
  args.out_type = dtype::bf16;
  BOOST_CHECK_THROW(gpu->gemm(args), std::invalid_argument);
  args.out_type = dtype::f32;
  args.lda = 3;
  BOOST_CHECK_THROW(gpu->gemm(args), std::invalid_argument);
  args.lda = 4;
  BOOST_CHECK_NO_THROW(gpu->gemm(args));
  gpu->synchronize();
}

BOOST_AUTO_TEST_CASE(bound_threads_copy_on_their_own_streams_at_once,
                     *boost::unit_test::precondition(has_gpu)) {
  auto gpu = open_gpu();
  std::mutex mutex;
  std::vector<std::string> problems;
  auto work = [&](unsigned seed) {
    try {
      gpu->bind_thread();
      const std::size_t bytes = 16 * mib;
      auto in = gpu->allocate_staging(bytes), out = gpu->allocate_staging(bytes);
      auto first = gpu->allocate(bytes), second = gpu->allocate(bytes);
      for (unsigned round = 0; round < 8; ++round) {
        const auto pattern = random_bytes(bytes, seed * 100 + round);
        std::memcpy(in.data(), pattern.data(), bytes);
        gpu->copy_from_host(in.data(), first.data(), bytes);
        gpu->copy_within(first.data(), second.data(), bytes);
        gpu->copy_to_host(second.data(), out.data(), bytes);
        gpu->synchronize();
        if (std::memcmp(out.data(), pattern.data(), bytes) != 0) {
          std::lock_guard lock(mutex);
          problems.push_back(fmt::format("thread {} round {}: bytes differ", seed, round));
        }
      }
    } catch (const std::exception& e) {
      std::lock_guard lock(mutex);
      problems.push_back(fmt::format("thread {}: {}", seed, e.what()));
    }
  };
  std::thread a(work, 1), b(work, 2);
  a.join();
  b.join();
  for (const auto& problem : problems) BOOST_TEST_MESSAGE(problem);
  BOOST_TEST(problems.empty());
}

BOOST_AUTO_TEST_CASE(buffers_outlive_their_device_and_their_thread,
                     *boost::unit_test::precondition(has_gpu)) {
  buffer memory, staging, from_thread;
  {
    auto gpu = open_gpu();
    memory = gpu->allocate(mib);
    staging = gpu->allocate_staging(mib);
    // Allocated on a thread's own stream; that thread and its stream are gone before the release.
    std::thread([&] {
      gpu->bind_thread();
      from_thread = gpu->allocate(mib);
      gpu->synchronize();
    }).join();
  }
  memory = buffer();
  staging = buffer();
  from_thread = buffer();
  auto again = open_gpu();
  BOOST_TEST(again->allocate(mib).size() == mib);
}
