// The cpu device backend: the topology hwloc reads against what the kernel says, NUMA placement
// decided on a made-up two-node machine and bound for real on this one, pinned threads, host
// memory and copies, matrix products in f32, bf16 and f16 against a double-precision reference,
// and the `cpu` kind's describe/open/detect.
#include <boost/test/unit_test.hpp>

#include <linux/mempolicy.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <random>
#include <set>
#include <thread>

#include <fmt/format.h>

#include "devices/cpu/cpu_device.hpp"
#include "devices/cpu/cpu_kind.hpp"
#include "devices/cpu/topology.hpp"
#include "devices/cpu_affinity.hpp"
#include "devices/float_convert.hpp"

using namespace loom;

namespace {

// Two nodes of four CPUs each, and a third node of memory only (CXL or HBM), as a two-socket
// server with a memory expander shows itself.
cpu_topology two_socket_machine() {
  cpu_topology t;
  t.cpus = {0, 1, 2, 3, 4, 5, 6, 7};
  t.packages = {{0, "test", {0, 1, 2, 3}, 4}, {1, "test", {4, 5, 6, 7}, 4}};
  for (int c = 0; c < 8; ++c) t.cores.push_back({c, c / 4, {c}});
  t.numa_nodes = {{0, 64ull << 30, {0, 1, 2, 3}},
                  {1, 32ull << 30, {4, 5, 6, 7}},
                  {2, 128ull << 30, {}}};
  return t;
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

// A row-major matrix with a leading dimension wider than its rows, so that products that ignore
// `ld` read the padding and fail.
struct matrix {
  std::int64_t rows, cols, ld;
  std::vector<float> values;  // rows × ld, padding filled with a poison value
  matrix(std::int64_t r, std::int64_t c, std::int64_t pad, std::mt19937& random)
      : rows(r), cols(c), ld(c + pad), values(static_cast<std::size_t>(r * (c + pad)), 1e30f) {
    std::uniform_real_distribution<float> uniform(-1.0f, 1.0f);
    for (std::int64_t i = 0; i < r; ++i)
      for (std::int64_t j = 0; j < c; ++j) at(i, j) = uniform(random);
  }
  float& at(std::int64_t i, std::int64_t j) { return values[static_cast<std::size_t>(i * ld + j)]; }
  float at(std::int64_t i, std::int64_t j) const {
    return values[static_cast<std::size_t>(i * ld + j)];
  }
};

// The values a 16-bit type holds, as bit patterns (same layout as the f32 matrix).
std::vector<std::uint16_t> to_16(const matrix& m, dtype type) {
  std::vector<std::uint16_t> out(m.values.size());
  for (std::size_t i = 0; i < out.size(); ++i)
    out[i] = type == dtype::bf16 ? bf16_from_f32(m.values[i]) : f16_from_f32(m.values[i]);
  return out;
}

// The f32 values of `m` after rounding to a 16-bit type: what the device multiplies.
matrix rounded(matrix m, dtype type) {
  for (auto& v : m.values) {
    v = type == dtype::bf16 ? f32_from_bf16(bf16_from_f32(v)) : f32_from_f16(f16_from_f32(v));
  }
  return m;
}

// alpha·A·B + beta·C in double precision, and Σ|alpha·a·b| + |beta·c| per element, the scale
// that f32 rounding errors grow with.
struct reference {
  std::vector<double> value, scale;
};

reference multiply(const matrix& a, const matrix& b, const matrix& c, float alpha, float beta) {
  reference r;
  for (std::int64_t i = 0; i < a.rows; ++i)
    for (std::int64_t j = 0; j < b.cols; ++j) {
      double sum = 0, magnitude = 0;
      for (std::int64_t p = 0; p < a.cols; ++p) {
        sum += static_cast<double>(a.at(i, p)) * b.at(p, j);
        magnitude += std::abs(static_cast<double>(a.at(i, p)) * b.at(p, j));
      }
      r.value.push_back(alpha * sum + beta * c.at(i, j));
      r.scale.push_back(std::abs(alpha) * magnitude + std::abs(beta * c.at(i, j)));
    }
  return r;
}

gemm_args args_for(dtype type, dtype out_type, const matrix& a, const void* a_data,
                   const matrix& b, const void* b_data, const matrix& c, void* c_data,
                   float alpha, float beta) {
  gemm_args g;
  g.type = type;
  g.out_type = out_type;
  g.m = a.rows;
  g.n = b.cols;
  g.k = a.cols;
  g.a = static_cast<const std::byte*>(a_data);
  g.lda = a.ld;
  g.b = static_cast<const std::byte*>(b_data);
  g.ldb = b.ld;
  g.c = static_cast<std::byte*>(c_data);
  g.ldc = c.ld;
  g.alpha = alpha;
  g.beta = beta;
  return g;
}

constexpr std::int64_t m = 37, n = 29, k = 53;  // odd sizes, off every kernel's block size

cpu_device& pinned_to_last_cpu() {
  static cpu_device device("pinned", {usable_cpus().back()}, device_caps{});
  return device;
}

}  // namespace

BOOST_AUTO_TEST_CASE(topology_covers_exactly_the_usable_cpus) {
  auto t = read_cpu_topology();
  BOOST_TEST(t.cpus == usable_cpus());
  BOOST_TEST(t.cpus.size() <= static_cast<std::size_t>(sysconf(_SC_NPROCESSORS_ONLN)));
  BOOST_TEST_REQUIRE(!t.packages.empty());
  BOOST_TEST_REQUIRE(!t.cores.empty());

  std::set<int> from_cores, from_packages;
  int package_cores = 0;
  for (const auto& core : t.cores) {
    BOOST_TEST(!core.cpus.empty());
    BOOST_TEST(core.package < static_cast<int>(t.packages.size()));
    from_cores.insert(core.cpus.begin(), core.cpus.end());
  }
  for (const auto& package : t.packages) {
    from_packages.insert(package.cpus.begin(), package.cpus.end());
    package_cores += package.cores;
  }
  BOOST_TEST(std::vector<int>(from_cores.begin(), from_cores.end()) == t.cpus);
  BOOST_TEST(std::vector<int>(from_packages.begin(), from_packages.end()) == t.cpus);
  BOOST_TEST(package_cores == static_cast<int>(t.cores.size()));
  BOOST_TEST(t.cores.size() <= t.cpus.size());
}

BOOST_AUTO_TEST_CASE(topology_has_caches_and_numa_memory) {
  auto t = read_cpu_topology();
  int levels_seen = 0;
  for (const auto& cache : t.caches) {
    BOOST_TEST(cache.level >= 1);
    BOOST_TEST(cache.level <= 3);
    BOOST_TEST(cache.bytes >= 4096u);
    BOOST_TEST(!cache.cpus.empty());
    levels_seen |= 1 << cache.level;
  }
  BOOST_TEST((levels_seen & 2) != 0, "an L1 data cache is listed");
  // Ordered by level, as `loom devices` prints them.
  BOOST_TEST(std::is_sorted(t.caches.begin(), t.caches.end(),
                            [](const auto& a, const auto& b) { return a.level < b.level; }));

  BOOST_TEST_REQUIRE(!t.numa_nodes.empty());
  std::size_t memory = 0;
  std::set<int> node_cpus;
  for (const auto& node : t.numa_nodes) {
    memory += node.memory_bytes;
    node_cpus.insert(node.cpus.begin(), node.cpus.end());
  }
  auto physical = static_cast<double>(sysconf(_SC_PHYS_PAGES)) * sysconf(_SC_PAGESIZE);
  BOOST_TEST(static_cast<double>(memory) <= physical * 1.01);
  // Each node's memory as the kernel reports it for that node (a virtual machine's nodes may
  // hold less than /proc/meminfo counts, so that is no bound from below).
  for (const auto& node : t.numa_nodes) {
    std::ifstream meminfo(fmt::format("/sys/devices/system/node/node{}/meminfo", node.index));
    std::string line;
    std::size_t kib = 0;
    while (std::getline(meminfo, line))
      if (auto at = line.find("MemTotal:"); at != std::string::npos)
        kib = std::stoull(line.substr(at + 9));
    BOOST_TEST_REQUIRE(kib > 0u, "node " << node.index << " meminfo");
    double kernel = kib * 1024.0;
    BOOST_TEST(std::abs(static_cast<double>(node.memory_bytes) - kernel) <= kernel * 0.01,
               "node " << node.index << ": hwloc " << node.memory_bytes << ", kernel " << kib
                       << " KiB");
  }
  BOOST_TEST(std::vector<int>(node_cpus.begin(), node_cpus.end()) == t.cpus);
}

BOOST_AUTO_TEST_CASE(cpu_lists_and_sizes_read_like_taskset_and_free) {
  BOOST_TEST(cpu_list({}) == "");
  BOOST_TEST(cpu_list({3}) == "3");
  BOOST_TEST(cpu_list({5, 0, 1, 2, 8, 9}) == "0-2,5,8-9");
  BOOST_TEST(byte_size(512) == "512 bytes");
  BOOST_TEST(byte_size(48 * 1024) == "48 KiB");
  BOOST_TEST(byte_size(32ull << 20) == "32 MiB");
  BOOST_TEST(byte_size(8952512512ull) == "8.3 GiB");
}

BOOST_AUTO_TEST_CASE(numa_node_is_the_one_holding_all_the_cores) {
  auto t = two_socket_machine();
  BOOST_TEST(numa_node_for(t, {4, 5}).value_or(-1) == 1);
  BOOST_TEST(numa_node_for(t, {0}).value_or(-1) == 0);
  BOOST_TEST(!numa_node_for(t, {3, 4}), "cores on two nodes: no single node to bind to");
  BOOST_TEST(!numa_node_for(t, {}), "unpinned: memory follows whoever touches it");
  BOOST_TEST(!numa_node_for(t, {42}), "a CPU on no node");

  auto one_node = t;
  one_node.numa_nodes = {{0, 96ull << 30, t.cpus}};
  BOOST_TEST(!numa_node_for(one_node, {4, 5}), "one node: nothing to choose");
}

BOOST_AUTO_TEST_CASE(caps_of_a_pinned_device_name_its_node_and_its_memory) {
  auto t = two_socket_machine();
  auto caps = cpu_caps({4, 5, 6}, 0, t);
  BOOST_TEST(caps.numa_node == 1);
  BOOST_TEST(caps.memory_total == (32ull << 30));
  BOOST_TEST(caps.cores == std::vector<int>({4, 5, 6}));
  BOOST_TEST(caps.flops == 3 * 30e9);
  BOOST_TEST(caps.memory_space == host_memory_space);

  auto spanning = cpu_caps({3, 4}, 250, t);
  BOOST_TEST(spanning.numa_node == -1);
  BOOST_TEST(spanning.memory_total == 0u);
  BOOST_TEST(spanning.flops == 250e9);

  auto types = caps.compute_dtypes;
  for (auto type : {dtype::f32, dtype::bf16, dtype::f16})
    BOOST_TEST((std::find(types.begin(), types.end(), type) != types.end()), name_of(type));
}

BOOST_AUTO_TEST_CASE(memory_for_a_node_carries_a_kernel_placement_policy) {
  // This machine's own node 0: the binding path runs for real, and the kernel's policy for the
  // pages says where they go.
  device_caps caps;
  caps.numa_node = 0;
  cpu_device device("node0", {}, caps);
  auto memory = device.allocate(4 << 20);
  BOOST_TEST_REQUIRE(memory.size() == std::size_t{4 << 20});
  BOOST_TEST(reinterpret_cast<std::uintptr_t>(memory.data()) % 64 == 0u);
  BOOST_TEST(std::all_of(memory.data(), memory.data() + memory.size(),
                         [](std::byte b) { return b == std::byte{0}; }));
  std::memset(memory.data(), 7, memory.size());

  int mode = -1;
  unsigned long nodes[16] = {};
  long rc = syscall(SYS_get_mempolicy, &mode, nodes, sizeof(nodes) * 8, memory.data(), MPOL_F_ADDR);
  BOOST_TEST_REQUIRE(rc == 0, "get_mempolicy: " << std::strerror(errno));
  // hwloc's non-strict binding: "prefer these nodes" where the kernel can say so, else "bind".
  BOOST_TEST((mode == MPOL_PREFERRED_MANY || mode == MPOL_BIND), "policy " << mode);
  BOOST_TEST(nodes[0] == 1ul, "placed on node 0 alone");

  auto small = device.allocate(1000);
  BOOST_TEST(small.size() == 1000u);
  BOOST_TEST(reinterpret_cast<std::uintptr_t>(small.data()) % 64 == 0u);
  device_caps missing;
  missing.numa_node = 4095;
  BOOST_CHECK_THROW(cpu_device("nowhere", {}, missing).allocate(1 << 20), std::invalid_argument);
}

BOOST_AUTO_TEST_CASE(unbound_memory_is_zeroed_aligned_and_copies_move_bytes) {
  auto& device = host_device();
  BOOST_TEST(device.caps().numa_node == -1);
  BOOST_TEST(device.memory_free() > 0u);
  for (std::size_t bytes : {std::size_t{1}, std::size_t{1000}, std::size_t{3} << 20}) {
    auto a = device.allocate(bytes);
    auto b = device.allocate(bytes);
    BOOST_TEST(a.size() == bytes);
    BOOST_TEST(reinterpret_cast<std::uintptr_t>(a.data()) % 64 == 0u);
    BOOST_TEST(
        std::all_of(a.data(), a.data() + bytes, [](std::byte x) { return x == std::byte{0}; }));
    std::vector<std::byte> host(bytes);
    for (std::size_t i = 0; i < bytes; ++i) host[i] = static_cast<std::byte>(i * 31 + 7);
    device.copy_from_host(host.data(), a.data(), bytes);
    device.copy_within(a.data(), b.data(), bytes);
    std::vector<std::byte> back(bytes);
    device.copy_to_host(b.data(), back.data(), bytes);
    BOOST_TEST((back == host));
  }
  auto t = device.allocate_tensor(dtype::f32, {3, 5});
  BOOST_TEST(t.device() == "cpu");
  BOOST_TEST(t.nbytes() == 60u);
}

BOOST_AUTO_TEST_CASE(bind_thread_keeps_a_thread_on_the_device_cores) {
  for (int cpu : usable_cpus()) {
    cpu_device device(fmt::format("core{}", cpu), {cpu}, device_caps{});
    std::set<int> seen;
    std::thread worker([&] {
      device.bind_thread();
      for (int i = 0; i < 200; ++i) {
        seen.insert(current_cpu());
        std::this_thread::yield();
      }
    });
    worker.join();
    BOOST_TEST((seen == std::set<int>{cpu}), "thread bound to CPU " << cpu);
  }
  // Pinning a device's thread leaves the rest of the process alone.
  BOOST_TEST(usable_cpus() == read_cpu_topology().cpus);
}

BOOST_AUTO_TEST_CASE(f32_product_matches_the_reference) {
  std::mt19937 random(1);
  matrix a(m, k, 3, random), b(k, n, 5, random), c(m, n, 2, random);
  auto expected = multiply(a, b, c, 0.5f, -2.0f);
  for (auto* device : {&host_device(), static_cast<device*>(&pinned_to_last_cpu())}) {
    auto out = c;
    device->gemm(args_for(dtype::f32, dtype::f32, a, a.values.data(), b, b.values.data(), out,
                          out.values.data(), 0.5f, -2.0f));
    double worst = 0;
    for (std::int64_t i = 0; i < m; ++i)
      for (std::int64_t j = 0; j < n; ++j) {
        auto e = static_cast<std::size_t>(i * n + j);
        // f32 accumulation: a few units of 2^-24 per term, relative to the terms' magnitude.
        worst = std::max(worst, std::abs(out.at(i, j) - expected.value[e]) / expected.scale[e]);
      }
    BOOST_TEST(worst < 1e-5, device->name() << ": worst relative error " << worst);
    BOOST_TEST(out.at(0, n) == 1e30f, "padding of C untouched");
  }
}

BOOST_AUTO_TEST_CASE(reduced_precision_products_match_the_reference) {
  std::mt19937 random(2);
  for (auto type : {dtype::bf16, dtype::f16}) {
    matrix a(m, k, 3, random), b(k, n, 1, random), c(m, n, 4, random);
    // What the device sees: the 16-bit roundings of A, B (and of C when C is 16-bit too).
    auto a16 = to_16(a, type), b16 = to_16(b, type);
    auto ra = rounded(a, type), rb = rounded(b, type), rc = rounded(c, type);
    // Rounding the result to 16 bits moves it by half a unit in the last place at most: 2^-8
    // of its value for bf16 (8 significant bits), 2^-11 for f16 (11).
    const double ulp = type == dtype::bf16 ? 1.0 / 256 : 1.0 / 2048;

    auto wide = c;
    host_device().gemm(args_for(type, dtype::f32, a, a16.data(), b, b16.data(), wide,
                                wide.values.data(), 1.5f, 0.25f));
    auto expected_wide = multiply(ra, rb, c, 1.5f, 0.25f);
    auto narrow = to_16(c, type);
    host_device().gemm(args_for(type, type, a, a16.data(), b, b16.data(), c, narrow.data(),
                                1.5f, 0.25f));
    auto expected_narrow = multiply(ra, rb, rc, 1.5f, 0.25f);

    double worst_wide = 0, worst_narrow = 0;
    for (std::int64_t i = 0; i < m; ++i)
      for (std::int64_t j = 0; j < n; ++j) {
        auto e = static_cast<std::size_t>(i * n + j);
        worst_wide = std::max(worst_wide, std::abs(wide.at(i, j) - expected_wide.value[e]) /
                                              expected_wide.scale[e]);
        auto bits = narrow[static_cast<std::size_t>(i * c.ld + j)];
        double got = type == dtype::bf16 ? f32_from_bf16(bits) : f32_from_f16(bits);
        worst_narrow = std::max(worst_narrow, std::abs(got - expected_narrow.value[e]) /
                                                  (std::abs(expected_narrow.value[e]) * ulp +
                                                   expected_narrow.scale[e] * 1e-5));
      }
    BOOST_TEST(worst_wide < 1e-5, name_of(type) << " → f32: worst relative error " << worst_wide);
    BOOST_TEST(worst_narrow <= 1.0, name_of(type) << " → " << name_of(type)
                                                  << ": worst error in units of rounding "
                                                  << worst_narrow);
    BOOST_TEST(narrow[static_cast<std::size_t>(c.ld - 1)] == to_16(c, type)[c.ld - 1],
               "padding of C untouched");
  }
}

BOOST_AUTO_TEST_CASE(bf16_result_rounds_to_nearest_even) {
  // 1 + 2^-8 lies halfway between the bf16 neighbours 1 and 1 + 2^-7: even is 1.
  // 1 + 3·2^-8 lies halfway between 1 + 2^-7 and 1 + 2^-6: even is 1 + 2^-6.
  for (auto [value, want] : {std::pair{1.0f + 1.0f / 256, 1.0f},
                             std::pair{1.0f + 3.0f / 256, 1.0f + 1.0f / 64}}) {
    std::uint16_t one = bf16_from_f32(1.0f), out = 0;
    gemm_args g;
    g.type = g.out_type = dtype::bf16;
    g.m = g.n = g.k = 1;
    g.lda = g.ldb = g.ldc = 1;
    g.a = reinterpret_cast<const std::byte*>(&one);
    g.b = reinterpret_cast<const std::byte*>(&one);
    g.c = reinterpret_cast<std::byte*>(&out);
    g.alpha = value;
    host_device().gemm(g);
    BOOST_TEST(f32_from_bf16(out) == want);
  }
}

BOOST_AUTO_TEST_CASE(gemm_refuses_wrong_arguments_naming_the_device) {
  float a[16] = {}, b[16] = {}, c[16] = {};
  auto valid = [&] {
    gemm_args g;
    g.m = g.n = g.k = 4;
    g.lda = g.ldb = g.ldc = 4;
    g.a = reinterpret_cast<const std::byte*>(a);
    g.b = reinterpret_cast<const std::byte*>(b);
    g.c = reinterpret_cast<std::byte*>(c);
    return g;
  };
  cpu_device device("cpu7", {}, device_caps{});
  auto refusal = [&](auto change) {
    auto g = valid();
    change(g);
    return message_of([&] { device.gemm(g); });
  };
  BOOST_TEST(message_of([&] { device.gemm(valid()); }) == "no error");

  auto zero = refusal([](gemm_args& g) { g.n = 0; });
  BOOST_TEST(contains(zero, "device 'cpu7'"), zero);
  BOOST_TEST(contains(zero, "n=0"), zero);
  auto lda = refusal([](gemm_args& g) { g.lda = 3; });
  BOOST_TEST(contains(lda, "lda=3 is less than k=4"), lda);
  auto ldb = refusal([](gemm_args& g) { g.ldb = 2; });
  BOOST_TEST(contains(ldb, "ldb=2 is less than n=4"), ldb);
  auto ldc = refusal([](gemm_args& g) { g.ldc = 1; });
  BOOST_TEST(contains(ldc, "ldc=1 is less than n=4"), ldc);
  auto integer = refusal([](gemm_args& g) { g.type = g.out_type = dtype::i32; });
  BOOST_TEST(contains(integer, "not i32"), integer);
  auto mixed = refusal([](gemm_args& g) {
    g.type = dtype::bf16;
    g.out_type = dtype::f16;
  });
  BOOST_TEST(contains(mixed, "as f32 or bf16, not f16"), mixed);
  auto null = refusal([](gemm_args& g) { g.c = nullptr; });
  BOOST_TEST(contains(null, "null"), null);
  auto huge = refusal([](gemm_args& g) { g.k = g.lda = std::int64_t{1} << 32; });
  BOOST_TEST(contains(huge, "2^31"), huge);
  auto negative = refusal([](gemm_args& g) { g.m = -1; });
  BOOST_TEST(contains(negative, "m=-1"), negative);
}

BOOST_AUTO_TEST_CASE(cpu_kind_describes_opens_and_detects) {
  auto kind = cpu_device_kind();
  BOOST_TEST(kind.kind == "cpu");
  BOOST_TEST_REQUIRE(kind.params.size() == 1u);
  BOOST_TEST(kind.params[0].key == "gflops");

  int core = usable_cpus().front();
  auto described = kind.describe("fast", param_values({{"gflops", 0.0}}), {core});
  BOOST_TEST(described.cores == std::vector<int>{core});
  BOOST_TEST(described.flops == 30e9);
  auto told = kind.describe("fast", param_values({{"gflops", 120.0}}), {});
  BOOST_TEST(told.flops == 120e9);
  BOOST_TEST(kind.describe("any", param_values(), {}).flops == 30e9 * usable_cpus().size());

  auto device = kind.open("fast", param_values({{"gflops", 0.0}}), {core});
  BOOST_TEST(device->name() == "fast");
  BOOST_TEST(device->kind() == "cpu");
  BOOST_TEST(device->caps().cores == std::vector<int>{core});
  auto refused = message_of([&] { kind.open("far", param_values(), {core, 4000}); });
  BOOST_TEST(contains(refused, "device 'far' cannot run on CPUs 4000"), refused);

  auto found = kind.detect();
  BOOST_TEST_REQUIRE(found.size() == 1u);
  BOOST_TEST(found[0].name == "cpu");
  auto t = machine_topology();
  auto cores = fmt::format("{} core{}", t.cores.size(), t.cores.size() == 1 ? "" : "s");
  BOOST_TEST(contains(found[0].description, cores), found[0].description);
  BOOST_TEST(contains(found[0].description, "NUMA node"), found[0].description);
  // A line per package, per cache level and per NUMA node.
  std::set<int> levels;
  for (const auto& cache : t.caches) levels.insert(cache.level);
  BOOST_TEST(found[0].details.size() == t.packages.size() + levels.size() + t.numa_nodes.size());
  BOOST_TEST(contains(found[0].details.front(), "package 0"), found[0].details.front());
}

BOOST_AUTO_TEST_CASE(machine_description_reads_well_on_a_made_up_machine) {
  auto t = two_socket_machine();
  for (int c = 0; c < 8; ++c) t.caches.push_back({2, 1 << 20, {c}});
  t.caches.push_back({3, 32u << 20, {0, 1, 2, 3}});
  t.caches.push_back({3, 32u << 20, {4, 5, 6, 7}});
  auto d = describe_machine(t);
  BOOST_TEST(d.description == "2 packages, 8 cores, 8 PUs, L3 2 × 32 MiB, 3 NUMA nodes 224 GiB");
  std::vector<std::string> want{"package 0: test, 4 cores, CPUs 0-3",
                                "package 1: test, 4 cores, CPUs 4-7",
                                "L2 8 × 1 MiB, one per core",
                                "L3 2 × 32 MiB, shared by CPUs 0-3 | 4-7",
                                "NUMA node 0: 64 GiB, CPUs 0-3",
                                "NUMA node 1: 32 GiB, CPUs 4-7",
                                "NUMA node 2: 128 GiB, no CPUs"};
  BOOST_TEST(d.details == want, boost::test_tools::per_element());
}
