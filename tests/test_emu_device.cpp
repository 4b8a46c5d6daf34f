// The emulated accelerator (devices/emu), opened as loom opens it: from the built plugin, through
// the device registry and the C++ adapter. Its pool holds exactly its capacity and says so when
// full; freed blocks are counted back, coalesced and reused; tensors in its memory carry its tag
// and move through loom::transfer; its matrix products round their inputs to the declared
// precision and accumulate in f32; with `throttle` a copy takes as long as the bandwidth says.
#include <boost/test/unit_test.hpp>

#include <chrono>
#include <cmath>
#include <cstring>
#include <map>
#include <random>
#include <thread>
#include <vector>

#include "devices/device_registry.hpp"
#include "devices/float_convert.hpp"
#include "devices/transfer.hpp"

namespace loom {
namespace {

using std::chrono::duration;
using std::chrono::steady_clock;

constexpr std::size_t mib = 1 << 20;

// An emu device named `name` with the given keys, the rest at their defaults.
std::unique_ptr<device> open_emu(const std::string& name,
                                 std::map<std::string, param_value, std::less<>> keys = {}) {
  static const device_registry registry = [] {
    device_registry r;
    r.load_plugin(LOOM_DEVICE_EMU_PATH);
    return r;
  }();
  return registry.find("emu")->open(name, param_values(std::move(keys)), {});
}

std::string out_of_memory_text(device& d, std::size_t bytes) {
  try {
    d.allocate(bytes);
  } catch (const device_out_of_memory& e) {
    return e.what();
  }
  return "(allocated)";
}

tensor random_matrix(std::int64_t rows, std::int64_t cols, std::uint32_t seed) {
  std::mt19937 generator(seed);
  std::uniform_real_distribution<float> uniform(-1.0f, 1.0f);
  auto m = tensor::zeros(dtype::f32, {rows, cols});
  for (std::int64_t i = 0; i < rows * cols; ++i) m.data<float>()[i] = uniform(generator);
  return m;
}

// Row-major A[m x k] * B[k x n] in double: the reference the device is held to.
std::vector<double> reference_product(const tensor& a, const tensor& b, float (*round)(float)) {
  const auto m = a.shape()[0], k = a.shape()[1], n = b.shape()[1];
  std::vector<double> c(static_cast<std::size_t>(m * n), 0.0);
  for (std::int64_t i = 0; i < m; ++i)
    for (std::int64_t j = 0; j < n; ++j)
      for (std::int64_t p = 0; p < k; ++p)
        c[i * n + j] += static_cast<double>(round(a.data<float>()[i * k + p])) *
                        round(b.data<float>()[p * n + j]);
  return c;
}

// Σ|a||b| for each element of the product: the scale a rounding error is relative to.
std::vector<double> magnitude(const tensor& a, const tensor& b) {
  auto abs_a = tensor::zeros(dtype::f32, a.shape());
  auto abs_b = tensor::zeros(dtype::f32, b.shape());
  for (std::int64_t i = 0; i < a.numel(); ++i)
    abs_a.data<float>()[i] = std::fabs(a.data<float>()[i]);
  for (std::int64_t i = 0; i < b.numel(); ++i)
    abs_b.data<float>()[i] = std::fabs(b.data<float>()[i]);
  return reference_product(abs_a, abs_b, [](float x) { return x; });
}

// C = A * B on `d` with f32 operands and result, moved there and back with transfer().
tensor product_on(device& d, const tensor& a, const tensor& b) {
  const auto m = a.shape()[0], k = a.shape()[1], n = b.shape()[1];
  auto da = transfer(a, host_device(), d);
  auto db = transfer(b, host_device(), d);
  auto dc = d.allocate_tensor(dtype::f32, {m, n});
  gemm_args args;
  args.m = m, args.n = n, args.k = k;
  args.a = da.raw(), args.lda = k;
  args.b = db.raw(), args.ldb = n;
  args.c = dc.raw(), args.ldc = n;
  d.gemm(args);
  return transfer(dc, d, host_device());
}

float identity(float x) { return x; }
float through_bf16(float x) { return f32_from_bf16(bf16_from_f32(x)); }
float through_f16(float x) { return f32_from_f16(f16_from_f32(x)); }

}  // namespace

BOOST_AUTO_TEST_CASE(the_pool_refuses_past_its_capacity_with_the_figures) {
  auto npu = open_emu("npu0", {{"memory", std::string("1MiB")}});
  BOOST_TEST(npu->caps().memory_total == mib);
  BOOST_TEST(npu->memory_free() == mib);
  BOOST_TEST(out_of_memory_text(*npu, mib + 1) ==
             "device 'npu0' is out of memory: 1048577 bytes (1.0 MiB) wanted, 1048576 bytes "
             "(1.0 MiB) free");

  auto held = npu->allocate(600 * 1024);
  try {
    npu->allocate(600 * 1024);
    BOOST_FAIL("a second 600 KiB fitted into 1 MiB");
  } catch (const device_out_of_memory& e) {
    BOOST_TEST(e.device() == "npu0");
    BOOST_TEST(e.wanted() == 614400u);
    BOOST_TEST(e.free() == 434176u);
    BOOST_TEST(e.what() == std::string("device 'npu0' is out of memory: 614400 bytes (0.6 MiB) "
                                       "wanted, 434176 bytes (0.4 MiB) free"));
  }
  // Exactly what is left still fits.
  auto rest = npu->allocate(434176);
  BOOST_TEST(npu->memory_free() == 0u);
}

BOOST_AUTO_TEST_CASE(accounting_is_exact_in_64_byte_blocks) {
  auto npu = open_emu("npu0", {{"memory", std::string("1MiB")}});
  auto first = npu->allocate(1000);
  BOOST_TEST(npu->memory_free() == mib - 1024);
  BOOST_TEST(reinterpret_cast<std::uintptr_t>(first.data()) % 64 == 0u);
  auto second = npu->allocate(64);
  BOOST_TEST(npu->memory_free() == mib - 1088);
  auto empty = npu->allocate(0);
  BOOST_TEST(npu->memory_free() == mib - 1152);
  // A view keeps the block: only the last one hands it back.
  auto view = first.share(100, 10);
  first = buffer();
  BOOST_TEST(npu->memory_free() == mib - 1152);
  view = buffer();
  BOOST_TEST(npu->memory_free() == mib - 128);
  second = buffer();
  empty = buffer();
  BOOST_TEST(npu->memory_free() == mib);
}

BOOST_AUTO_TEST_CASE(freed_blocks_are_reused_and_coalesced) {
  auto npu = open_emu("npu0", {{"memory", std::string("1MiB")}});
  const std::byte* address = nullptr;
  {
    auto block = npu->allocate(256 * 1024);
    address = block.data();
  }
  BOOST_TEST(npu->allocate(256 * 1024).data() == address);

  std::vector<buffer> quarters;
  for (int i = 0; i < 4; ++i) quarters.push_back(npu->allocate(256 * 1024));
  BOOST_TEST(npu->memory_free() == 0u);
  quarters[0] = buffer();
  quarters[2] = buffer();
  // Two free quarters, but not side by side: half the pool does not fit in one piece ...
  BOOST_CHECK_THROW(npu->allocate(512 * 1024), device_out_of_memory);
  // ... until the quarter between them is freed and the three merge.
  quarters[1] = buffer();
  auto three_quarters = npu->allocate(768 * 1024);
  BOOST_TEST(three_quarters.data() == address);
}

BOOST_AUTO_TEST_CASE(threads_allocate_and_free_without_overlap) {
  auto npu = open_emu("npu0", {{"memory", std::string("4MiB")}});
  auto churn = [&](std::uint32_t seed) {
    std::mt19937 generator(seed);
    std::vector<buffer> held;
    for (int round = 0; round < 3000; ++round) {
      if (held.size() > 8 || (!held.empty() && generator() % 2 == 0)) {
        auto& victim = held[generator() % held.size()];
        // Each block still holds the pattern its owner wrote: no one else was handed it.
        const auto fill =
            static_cast<unsigned char>(reinterpret_cast<std::uintptr_t>(victim.data()) >> 6);
        for (std::size_t i = 0; i < victim.size(); i += 61)
          if (static_cast<unsigned char>(victim.data()[i]) != fill)
            throw std::logic_error("overlap");
        std::swap(victim, held.back());
        held.pop_back();
      } else {
        auto block = npu->allocate(64 + generator() % (64 * 1024));
        std::memset(block.data(),
                    static_cast<unsigned char>(reinterpret_cast<std::uintptr_t>(block.data()) >> 6),
                    block.size());
        held.push_back(std::move(block));
      }
    }
  };
  std::thread other(churn, 2);
  churn(1);
  other.join();
  BOOST_TEST(npu->memory_free() == 4 * mib);
}

BOOST_AUTO_TEST_CASE(host_staging_memory_is_kept_warm_for_reuse) {
  auto npu = open_emu("npu0");
  const std::byte* first = nullptr;
  {
    auto staging = npu->allocate_staging(3 << 20);
    BOOST_TEST(staging.size() == std::size_t{3} << 20);
    first = staging.data();
  }
  // A block of up to twice the size asked for is reused; a much larger request is not served
  // from it.
  auto again = npu->allocate_staging(2 << 20);
  BOOST_TEST(again.data() == first);
  auto larger = npu->allocate_staging(8 << 20);
  BOOST_TEST(larger.data() != first);

  // Transfers out of the device land in it.
  auto on_npu = transfer(tensor::zeros(dtype::u8, {1 << 20}), host_device(), *npu);
  auto back = transfer(on_npu, *npu, host_device());
  BOOST_TEST(back.device() == "cpu");
  BOOST_TEST(back.nbytes() == std::size_t{1} << 20);
}

BOOST_AUTO_TEST_CASE(tensors_in_its_memory_carry_its_tag) {
  auto npu = open_emu("npu0");
  BOOST_TEST(npu->kind() == "emu");
  BOOST_TEST(npu->memory_space() == "emu:npu0");
  auto t = npu->allocate_tensor(dtype::bf16, {3, 5});
  BOOST_TEST(t.device() == "emu:npu0");
  BOOST_TEST(t.nbytes() == 30u);
  // A host pointer where device memory belongs is refused, as a real device would fault.
  std::vector<std::byte> host(64);
  try {
    npu->copy_from_host(host.data(), host.data(), host.size());
    BOOST_FAIL("a copy into host memory was accepted");
  } catch (const std::runtime_error& e) {
    BOOST_TEST(std::string(e.what()).starts_with("device 'npu0': copy_from_host: destination ["));
    BOOST_TEST(std::string(e.what()).ends_with(", +64 bytes) is not in the memory of emu:npu0"));
  }
}

BOOST_AUTO_TEST_CASE(transfers_round_trip_through_emu) {
  auto npu = open_emu("npu0");
  auto other = open_emu("npu1");
  auto source = tensor::zeros(dtype::f32, {512, 1024});
  for (std::int64_t i = 0; i < source.numel(); ++i)
    source.data<float>()[i] = static_cast<float>(i % 9973) * 0.5f;

  auto on_npu = transfer(source, host_device(), *npu);
  BOOST_TEST(on_npu.device() == "emu:npu0");
  BOOST_TEST(npu->memory_free() == npu->caps().memory_total - source.nbytes());
  // emu devices have no peer access: npu0 -> npu1 goes through host memory.
  auto on_other = transfer(on_npu, *npu, *other);
  BOOST_TEST(on_other.device() == "emu:npu1");
  auto back = transfer(on_other, *other, host_device());
  BOOST_TEST(back.device() == "cpu");
  BOOST_TEST(std::memcmp(back.raw(), source.raw(), source.nbytes()) == 0);

  // A strided host view arrives dense.
  auto columns = tensor(dtype::f32, {512, 256}, {1024, 4}, source.memory());
  auto dense = transfer(transfer(columns, host_device(), *npu), *npu, host_device());
  bool equal = true;
  for (std::int64_t r = 0; r < 512; ++r)
    for (std::int64_t c = 0; c < 256; ++c)
      equal = equal && dense.data<float>()[r * 256 + c] == source.data<float>()[r * 1024 + c * 4];
  BOOST_TEST(equal);
  BOOST_CHECK_THROW(transfer(on_npu, host_device(), *other), std::invalid_argument);
}

BOOST_AUTO_TEST_CASE(bf16_products_round_their_inputs_and_accumulate_in_f32) {
  auto npu = open_emu("npu0", {{"precision", std::string("bf16")}});
  auto a = random_matrix(33, 128, 1), b = random_matrix(128, 47, 2);
  auto c = product_on(*npu, a, b);
  auto exact = reference_product(a, b, identity);
  auto rounded = reference_product(a, b, through_bf16);
  auto scale = magnitude(a, b);

  // Each input rounded to bf16 is off by at most 2^-9 of itself, so each product by at most
  // about 2^-8: the result stays within 2^-8 · Σ|a||b| of the exact one. It is not the f32
  // result (that would be within ~1e-6), and it is the product of the rounded inputs summed in
  // f32, within f32 accumulation error.
  double worst_exact = 0, worst_rounded = 0;
  for (std::size_t i = 0; i < exact.size(); ++i) {
    worst_exact = std::max(worst_exact, std::fabs(c.data<float>()[i] - exact[i]) / scale[i]);
    worst_rounded = std::max(worst_rounded, std::fabs(c.data<float>()[i] - rounded[i]) / scale[i]);
  }
  BOOST_TEST(worst_exact <= std::ldexp(1.0, -8));
  BOOST_TEST(worst_exact > 1e-4);
  BOOST_TEST(worst_rounded <= 1e-6);
}

BOOST_AUTO_TEST_CASE(f16_and_f32_precision) {
  auto a = random_matrix(20, 64, 3), b = random_matrix(64, 30, 4);
  auto scale = magnitude(a, b);

  auto f16 = open_emu("npu0", {{"precision", std::string("f16")}});
  auto c16 = product_on(*f16, a, b);
  auto rounded = reference_product(a, b, through_f16);
  auto exact = reference_product(a, b, identity);
  double worst16 = 0;
  for (std::size_t i = 0; i < exact.size(); ++i)
    worst16 = std::max(worst16, std::fabs(c16.data<float>()[i] - rounded[i]) / scale[i]);
  BOOST_TEST(worst16 <= 1e-6);

  auto f32 = open_emu("npu1", {{"precision", std::string("f32")}});
  auto c32 = product_on(*f32, a, b);
  double worst32 = 0;
  for (std::size_t i = 0; i < exact.size(); ++i)
    worst32 = std::max(worst32, std::fabs(c32.data<float>()[i] - exact[i]) / scale[i]);
  BOOST_TEST(worst32 <= 1e-6);
}

BOOST_AUTO_TEST_CASE(bf16_operands_with_padded_rows_and_a_bf16_result) {
  auto npu = open_emu("npu0");
  const std::int64_t m = 5, n = 6, k = 7, lda = 9, ldb = 8, ldc = 10;
  auto a = tensor::zeros(dtype::bf16, {m, lda});
  auto b = tensor::zeros(dtype::bf16, {k, ldb});
  auto c = tensor::zeros(dtype::bf16, {m, ldc});
  auto* ha = a.data<std::uint16_t>();
  auto* hb = b.data<std::uint16_t>();
  auto* hc = c.data<std::uint16_t>();
  for (std::int64_t i = 0; i < m * lda; ++i) ha[i] = bf16_from_f32(static_cast<float>(i % 5) - 2);
  for (std::int64_t i = 0; i < k * ldb; ++i) hb[i] = bf16_from_f32(static_cast<float>(i % 3));
  for (std::int64_t i = 0; i < m * ldc; ++i) hc[i] = bf16_from_f32(100.0f);
  auto da = transfer(a, host_device(), *npu), db = transfer(b, host_device(), *npu),
       dc = transfer(c, host_device(), *npu);

  gemm_args args;
  args.type = dtype::bf16, args.out_type = dtype::bf16;
  args.m = m, args.n = n, args.k = k;
  args.a = da.raw(), args.lda = lda, args.b = db.raw(), args.ldb = ldb;
  args.c = dc.raw(), args.ldc = ldc;
  args.alpha = 0.5f, args.beta = 2.0f;
  npu->gemm(args);
  auto out = transfer(dc, *npu, host_device());

  // Small integers: the inputs and the f32 sum are exact, so the result must be that sum rounded
  // once to bf16 (198.5 is stored as 198: bf16 keeps 8 significant bits), and the padding
  // columns of C untouched.
  for (std::int64_t i = 0; i < m; ++i) {
    for (std::int64_t j = 0; j < ldc; ++j) {
      float expected = 100.0f;
      if (j < n) {
        float sum = 0;
        for (std::int64_t p = 0; p < k; ++p)
          sum += f32_from_bf16(ha[i * lda + p]) * f32_from_bf16(hb[p * ldb + j]);
        expected = f32_from_bf16(bf16_from_f32(0.5f * sum + 2.0f * 100.0f));
      }
      BOOST_TEST(f32_from_bf16(out.data<std::uint16_t>()[i * ldc + j]) == expected);
    }
  }
}

BOOST_AUTO_TEST_CASE(products_it_cannot_do_are_refused) {
  auto npu = open_emu("npu0");
  auto m = npu->allocate_tensor(dtype::i32, {2, 2});
  gemm_args args;
  args.type = dtype::i32, args.out_type = dtype::i32;
  args.m = args.n = args.k = 2;
  args.a = m.raw(), args.b = m.raw(), args.c = m.raw();
  args.lda = args.ldb = args.ldc = 2;
  BOOST_CHECK_EXCEPTION(npu->gemm(args), std::invalid_argument, [](const std::invalid_argument& e) {
    return e.what() == std::string(
                           "device 'npu0': emu multiplies f32, bf16 or f16 matrices into "
                           "f32 or their own dtype, not i32 into i32");
  });
  // Operands in host memory are refused too.
  auto host = tensor::zeros(dtype::f32, {2, 2});
  args.type = args.out_type = dtype::f32;
  args.a = host.raw();
  BOOST_CHECK_THROW(npu->gemm(args), std::runtime_error);
}

BOOST_AUTO_TEST_CASE(throttle_paces_copies_and_products_to_the_declared_rates) {
  auto paced = open_emu("slow", {{"throttle", true},
                                 {"bandwidth", std::string("200MB/s")},
                                 {"precision", std::string("f32")},
                                 {"tflops", 0.00002},
                                 {"reduced_tflops", 0.0001}});
  auto free_running = open_emu("fast", {{"bandwidth", std::string("200MB/s")}});
  const std::size_t bytes = 8 * mib;
  std::vector<std::byte> host(bytes, std::byte{1});
  auto elapsed = [](auto&& work) {
    auto start = steady_clock::now();
    work();
    return duration<double>(steady_clock::now() - start).count();
  };

  // 8 MiB at 200 MB/s: 41.9 ms. Sleeping guarantees the lower bound; the upper one is loose for
  // a busy machine.
  const double expected = static_cast<double>(bytes) / 200e6;
  auto on_paced = paced->allocate(bytes);
  const double copy_in =
      elapsed([&] { paced->copy_from_host(host.data(), on_paced.data(), bytes); });
  const double copy_out =
      elapsed([&] { paced->copy_to_host(on_paced.data(), host.data(), bytes); });
  BOOST_TEST(copy_in >= expected);
  BOOST_TEST(copy_in < 3 * expected);
  BOOST_TEST(copy_out >= expected);
  auto on_fast = free_running->allocate(bytes);
  free_running->copy_from_host(host.data(), on_fast.data(), bytes);  // first touch
  const double unpaced =
      elapsed([&] { free_running->copy_from_host(host.data(), on_fast.data(), bytes); });
  BOOST_TEST(unpaced < expected / 2);

  // 2·64³ FLOP at 2e7 FLOP/s in f32: 26.2 ms.
  auto a = random_matrix(64, 64, 5);
  const double f32_expected = 2.0 * 64 * 64 * 64 / 2e7;
  const double f32_seconds = elapsed([&] { product_on(*paced, a, a); });
  BOOST_TEST(f32_seconds >= f32_expected);
}

BOOST_AUTO_TEST_CASE(reduced_precision_products_pace_to_reduced_tflops) {
  auto paced =
      open_emu("slow", {{"throttle", true}, {"tflops", 0.00002}, {"reduced_tflops", 0.0001}});
  auto a = random_matrix(64, 64, 6);
  auto da = transfer(a, host_device(), *paced);
  auto dc = paced->allocate_tensor(dtype::f32, {64, 64});
  gemm_args args;
  args.m = args.n = args.k = 64;
  args.a = da.raw(), args.b = da.raw(), args.c = dc.raw();
  args.lda = args.ldb = args.ldc = 64;
  auto start = steady_clock::now();
  paced->gemm(args);
  const double seconds = duration<double>(steady_clock::now() - start).count();
  // bf16 (the default precision) runs at reduced_tflops, 1e8 FLOP/s: 5.2 ms, not f32's 26.2 ms.
  BOOST_TEST(seconds >= 2.0 * 64 * 64 * 64 / 1e8);
  BOOST_TEST(seconds < 2.0 * 64 * 64 * 64 / 2e7);
}

BOOST_AUTO_TEST_CASE(bad_keys_are_refused_when_opening) {
  BOOST_CHECK_EXCEPTION(open_emu("npu0", {{"bandwidth", std::string("fast")}}), std::runtime_error,
                        [](const std::runtime_error& e) {
                          return e.what() == std::string(
                                                 "device 'npu0': bandwidth 'fast' is not a "
                                                 "rate such as \"25GB/s\" or \"800MiB/s\"");
                        });
  BOOST_CHECK_EXCEPTION(
      open_emu("npu0", {{"tflops", 0.0}}), std::runtime_error, [](const std::runtime_error& e) {
        return e.what() == std::string(
                               "device 'npu0': tflops must be a number greater than "
                               "0, not '0'");
      });
  auto binary =
      open_emu("a", {{"memory", std::string("1.5GiB")}, {"bandwidth", std::string("1.5GiB/s")}});
  BOOST_TEST(binary->caps().memory_total == 1536 * mib);
  BOOST_TEST(binary->caps().copy_bytes_per_s == 1.5 * 1024 * mib);
}

}  // namespace loom
