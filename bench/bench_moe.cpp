// The MoE layer through loom's runtime (issue 4): T = 1024 tokens, d_model = 1024, d_ff = 512, 16
// routed experts, top-2, 1 shared expert, f32 SwiGLU, run as a graph's `moe` stage (router,
// shards, combiner) and compared, in the same run, with
//   - PyTorch on the same shapes (bench/torch/moe_layer.py, a subprocess) on 2 threads and on 1
//     (on the 2-core machine its 2-thread run is often the slower: its OpenMP threads and
//     OpenBLAS's spin against each other); the target is judged against the faster,
//   - cblas_sgemm 2048³ on two threads: what the machine's BLAS reaches at best,
//   - the same layer with one shard on one core holding every expert (expert parallelism).
//
//   build/bench/bench_moe [--packets N] [--warmup N] [--rounds N] [--torch-runs N] [--no-torch]
//                         [--only 2shards|1shard|unpinned]
//
// The graph is a bench-local source of random f32 [1024, 1024] packets → moe → a bench-local
// sink that notes when each packet arrives. The layer's time is the interval between arrivals
// after the warm-up packets: a run's own seconds also count opening the shards, which generate
// 100 MB of random weights. Each round runs every configuration once; the report gives the best
// of the rounds and their range; each PyTorch figure is the best of --torch-runs invocations (2),
// each the median of 10 forwards. Time in process() per packet of each part shows where the
// time goes.
// `--only` runs one layout and no peers, for profilers.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "actors/runtime.hpp"
#include "bench_peers.hpp"
#include "graphs/load.hpp"
#include "stages/registry.hpp"

using namespace loom;

namespace {

constexpr std::int64_t tokens = 1024, d_model = 1024, d_ff = 512, experts = 16, top_k = 2,
                       shared_experts = 1;

// Useful arithmetic of one layer: the router's product and, per token, top_k + shared experts of
// three [d_model, d_ff] products.
constexpr double layer_flops =
    2.0 * tokens * d_model * experts + 1.0 * tokens * (top_k + shared_experts) * 6 * d_model * d_ff;

// Emits `count` packets of random f32 [rows, cols] "data", made at open so the run only moves
// them; four distinct inputs in turn, so the routing varies from packet to packet.
class random_rows_source final : public stage {
 public:
  void open(stage_context& ctx) override {
    const auto& p = ctx.params();
    count_ = static_cast<std::uint64_t>(p.integer("count"));
    const auto rows = p.integer("rows"), cols = p.integer("cols");
    for (unsigned i = 0; i < 4; ++i) {
      auto values = bench::random_values(static_cast<std::size_t>(rows * cols), 100 + i);
      tensor t = ctx.device().allocate_tensor(dtype::f32, {rows, cols});
      std::copy(values.begin(), values.end(), t.data<float>());
      inputs_.push_back(std::move(t));
    }
  }

  void process(stage_context& ctx) override {
    if (next_ >= count_ || ctx.stop_requested()) {
      ctx.finish();
      return;
    }
    packet p;
    p.sequence = next_;
    p.created_ns = steady_now_ns();
    p.timestamp_us = p.created_ns / 1000;
    p.tensors.push_back({"data", inputs_[next_ % inputs_.size()]});
    ++next_;
    ctx.emit("out", make_shared_packet(std::move(p)));
  }

 private:
  std::uint64_t count_ = 0, next_ = 0;
  std::vector<tensor> inputs_;
};

// When the sink saw each packet; the sum of |y| of the last one, to check that every layout
// computes the same layer (summed only once: the sink shares the cores with the layer).
struct arrivals {
  std::vector<bench::clock_type::time_point> at;
  double checksum = 0;
};

class arrival_sink final : public stage {
 public:
  explicit arrival_sink(std::shared_ptr<arrivals> log) : log_(std::move(log)) {}

  void open(stage_context& ctx) override {
    last_ = static_cast<std::uint64_t>(ctx.params().integer("count")) - 1;
  }

  void process(stage_context& ctx) override {
    log_->at.push_back(bench::clock_type::now());
    if (ctx.input().sequence != last_) return;
    const tensor& y = ctx.input().at("data");
    double sum = 0;
    for (std::int64_t i = 0; i < y.numel(); ++i) sum += std::fabs(y.data<float>()[i]);
    log_->checksum = sum;
  }

 private:
  std::shared_ptr<arrivals> log_;
  std::uint64_t last_ = 0;
};

stage_spec random_rows_source_spec() {
  stage_spec spec;
  spec.type = "bench_random_rows";
  spec.summary = "bench_moe's source of random f32 rows";
  spec.outputs = {{"out", "f32 [rows, cols] \"data\"", {dtype::f32, 2}}};
  spec.params = {integer_param("count", 12, "packets", 0), integer_param("rows", 1024, "rows", 1),
                 integer_param("cols", 1024, "columns", 1)};
  spec.make = [] { return std::make_unique<random_rows_source>(); };
  spec.infer = [](const param_values& p, const std::vector<port_type>&) {
    return std::vector<port_type>{
        {dtype::f32, 2, dims(std::vector<std::int64_t>{p.integer("rows"), p.integer("cols")})}};
  };
  return spec;
}

stage_spec arrival_sink_spec(std::shared_ptr<arrivals> log) {
  stage_spec spec;
  spec.type = "bench_arrival_sink";
  spec.summary = "bench_moe's sink: notes when each packet arrives";
  spec.inputs = {{"in", "f32 \"data\"", {dtype::f32, std::nullopt}}};
  spec.params = {integer_param("count", 12, "packets the source sends", 1)};
  spec.make = [log] { return std::make_unique<arrival_sink>(log); };
  return spec;
}

// One configuration of the layer: its devices and its `shards` line (empty: no `shards`, one
// shard on the stage's unpinned device), and OpenBLAS's threads while it runs.
struct layout {
  std::string key;  // for --only
  std::string label;
  std::string devices;
  std::string shards;
  int blas_threads = 1;
};

std::string graph_text(const layout& l, std::uint64_t packets) {
  return fmt::format(R"([graph]
name = "bench_moe"
version = 1
capacity = 4
{}
[stages.src]
type = "bench_random_rows"
count = {}
rows = {}
cols = {}
[stages.layer]
type = "moe"
d_model = {}
d_ff = {}
experts = {}
top_k = {}
shared_experts = {}
weights = "random:7"
{}
inputs.in = "src.out"
[stages.sink]
type = "bench_arrival_sink"
count = {}
inputs.in = "layer.out"
)",
                     l.devices, packets, tokens, d_model, d_model, d_ff, experts, top_k,
                     shared_experts, l.shards, packets);
}

const std::string core_devices = R"([devices.core0]
kind = "cpu"
cores = [0]
[devices.core1]
kind = "cpu"
cores = [1]
)";

struct measured {
  double ms_per_layer = 0;
  double checksum = 0;                                  // of the last packet
  std::vector<std::pair<std::string, double>> busy_ms;  // per part, per packet
  std::vector<std::uint64_t> tokens_per_expert;         // summed over the packets
};

measured run_layout(const layout& l, stage_registry& registry, arrivals& log, std::uint64_t packets,
                    std::uint64_t warmup) {
  auto loaded = load_graph_text(graph_text(l, packets), "bench_moe.toml", {}, registry);
  if (!loaded.graph) {
    for (const auto& d : loaded.errors) std::fprintf(stderr, "%s\n", format(d).c_str());
    std::exit(1);
  }
  log = {};
  bench::set_blas_threads(l.blas_threads);
  auto result = run_graph(*loaded.graph);
  if (result.status != run_result::outcome::completed || log.at.size() != packets) {
    for (const auto& f : result.failures) std::fprintf(stderr, "%s\n", f.c_str());
    std::fprintf(stderr, "bench_moe: %s delivered %zu of %llu packets\n", l.label.c_str(),
                 log.at.size(), static_cast<unsigned long long>(packets));
    std::exit(1);
  }
  measured m;
  m.ms_per_layer =
      std::chrono::duration<double, std::milli>(log.at.back() - log.at[warmup - 1]).count() /
      static_cast<double>(packets - warmup);
  m.checksum = log.checksum;
  m.tokens_per_expert = result.stats.stages.at("layer/router").counters.at("tokens_per_expert");
  for (const auto& [name, stats] : result.stats.stages)
    if (name.rfind("layer", 0) == 0)
      m.busy_ms.emplace_back(name, stats.busy_seconds * 1e3 / static_cast<double>(packets));
  return m;
}

double gflops(double ms) { return layer_flops / (ms * 1e-3) / 1e9; }

void print_target(const std::string& what, double ratio, double target) {
  fmt::print("{}: {:.2f}x (target >= {}){}\n", what, ratio, target,
             ratio >= target ? "" : " — MISSED");
}

}  // namespace

int main(int argc, char** argv) {
  std::uint64_t packets = 12, warmup = 2;
  int rounds = 3, torch_runs = 2;
  bool with_torch = true;
  std::string only;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--no-torch") with_torch = false;
    if (i + 1 >= argc) continue;
    if (arg == "--packets") packets = std::stoull(argv[i + 1]);
    if (arg == "--warmup") warmup = std::stoull(argv[i + 1]);
    if (arg == "--rounds") rounds = std::max(1, std::stoi(argv[i + 1]));
    if (arg == "--torch-runs") torch_runs = std::max(1, std::stoi(argv[i + 1]));
    if (arg == "--only") only = argv[i + 1];
  }
  warmup = std::max<std::uint64_t>(1, warmup);
  packets = std::max(packets, warmup + 2);

  auto log = std::make_shared<arrivals>();
  auto registry = stage_registry::with_builtins();
  registry.add(random_rows_source_spec(), "bench_moe");
  registry.add(arrival_sink_spec(log), "bench_moe");

  const std::vector<layout> layouts{
      {"2shards", "2 shards: experts 0-7 on core 0, 8-15 on core 1, 1 BLAS thread each",
       core_devices,
       R"(shards = [{ device = "core0", experts = "0-7" }, { device = "core1", experts = "8-15" }])",
       1},
      {"1shard", "1 shard: experts 0-15 on core 0, 1 BLAS thread", core_devices,
       R"(shards = [{ device = "core0", experts = "0-15" }])", 1},
      {"unpinned", "1 shard, unpinned, OpenBLAS on 2 threads (for reference)", "", "", 2},
  };

  if (!only.empty()) {
    for (const auto& l : layouts)
      if (l.key == only)
        for (int round = 0; round < rounds; ++round)
          fmt::print("{}: {:.1f} ms per layer\n", l.label,
                     run_layout(l, registry, *log, packets, warmup).ms_per_layer);
    return 0;
  }

  const double sgemm2 = bench::sgemm_gflops(2048, 2048, 2048, 2, 3);
  const double sgemm1 = bench::sgemm_gflops(2048, 2048, 2048, 1, 3);

  std::vector<std::vector<measured>> runs(layouts.size());
  for (int round = 0; round < rounds; ++round)
    for (std::size_t i = 0; i < layouts.size(); ++i)
      runs[i].push_back(run_layout(layouts[i], registry, *log, packets, warmup));

  std::vector<std::pair<int, bench::torch_peer>> torch;  // (threads, figure)
  if (with_torch)
    for (int threads : {2, 1}) {
      torch.emplace_back(
          threads,
          bench::best_torch_peer(
              "moe_layer.py",
              fmt::format("--tokens {} --d-model {} --d-ff {} --experts {} --top-k {} --shared {} "
                          "--threads {} --repeat 10",
                          tokens, d_model, d_ff, experts, top_k, shared_experts, threads),
              torch_runs));
      if (!torch.back().second.ms) break;
    }
  const bench::torch_peer* fastest_torch = nullptr;
  for (const auto& [threads, peer] : torch)
    if (peer.ms && (fastest_torch == nullptr || *peer.ms < *fastest_torch->ms))
      fastest_torch = &peer;

  fmt::print(
      "moe layer: T={} d_model={} d_ff={}, {} experts top-{} + {} shared, f32 SwiGLU, "
      "{:.2f} GFLOP per layer\n",
      tokens, d_model, d_ff, experts, top_k, shared_experts, layer_flops / 1e9);
  fmt::print(
      "{} packets, the first {} not timed; best of {} rounds (range); OpenBLAS {} kernels\n\n",
      packets, warmup, rounds, openblas_get_corename());
  fmt::print("  {:<68} {:>20} {:>8}\n", "", "ms per layer", "GFLOP/s");
  std::vector<double> best(layouts.size());
  std::vector<const measured*> best_run(layouts.size());
  for (std::size_t i = 0; i < layouts.size(); ++i) {
    best_run[i] = &*std::min_element(
        runs[i].begin(), runs[i].end(),
        [](const auto& a, const auto& b) { return a.ms_per_layer < b.ms_per_layer; });
    best[i] = best_run[i]->ms_per_layer;
    double worst = 0;
    for (const auto& m : runs[i]) worst = std::max(worst, m.ms_per_layer);
    fmt::print("  {:<68} {:>7.1f} ({:.1f} – {:.1f}) {:>8.1f}\n", layouts[i].label, best[i], best[i],
               worst, gflops(best[i]));
  }
  for (const auto& [threads, peer] : torch)
    if (peer.ms)
      fmt::print("  {:<68} {:>20.1f} {:>8.1f}\n",
                 fmt::format("PyTorch {}, {} thread{} (moe_layer.py, best of {})", peer.version,
                             threads, threads == 1 ? "" : "s", torch_runs),
                 *peer.ms, gflops(*peer.ms));
  fmt::print("  {:<68} {:>20} {:>8.1f}\n", "cblas_sgemm 2048³, 2 threads", "", sgemm2);
  fmt::print("  {:<68} {:>20} {:>8.1f}\n\n", "cblas_sgemm 2048³, 1 thread", "", sgemm1);

  fmt::print(
      "time in process() per packet of each part, best round (ms; wall time, so it "
      "includes waiting for a core; the slower warm-up packets included):\n");
  for (std::size_t i = 0; i < layouts.size(); ++i) {
    std::string parts;
    for (const auto& [name, ms] : best_run[i]->busy_ms)
      parts += fmt::format("  {} {:.1f}", name, ms);
    fmt::print("  {}:{}\n", layouts[i].label.substr(0, layouts[i].label.find(':')), parts);
  }
  // Routing decides each shard's share of the work: the busier shard bounds the speed-up.
  const auto& routed = best_run[0]->tokens_per_expert;
  double first_half = 0, second_half = 0;
  for (std::size_t e = 0; e < routed.size(); ++e)
    (e < routed.size() / 2 ? first_half : second_half) += static_cast<double>(routed[e]);
  first_half /= static_cast<double>(packets);
  second_half /= static_cast<double>(packets);
  const double shared_rows = static_cast<double>(tokens * shared_experts);
  fmt::print(
      "  routed rows per packet: experts 0-7 {:.0f}, 8-15 {:.0f}; each shard also runs {:.0f} "
      "shared-expert rows; the busier shard bounds 2 shards vs 1 at {:.2f}x\n",
      first_half, second_half, shared_rows / 2,
      (first_half + second_half + shared_rows) /
          (std::max(first_half, second_half) + shared_rows / 2));
  // Every layout computes the same layer on the same inputs.
  const double reference = best_run[0]->checksum;
  for (std::size_t i = 1; i < layouts.size(); ++i)
    if (std::fabs(best_run[i]->checksum - reference) > 1e-4 * reference) {
      fmt::print(stderr, "bench_moe: '{}' computed another layer: sum |y| {} against {}\n",
                 layouts[i].label, best_run[i]->checksum, reference);
      return 1;
    }
  fmt::print("  (sum |y| of the last packet, the same in every layout: {:.6g})\n\n", reference);

  if (fastest_torch != nullptr)
    print_target("moe vs pytorch (its faster thread count)", *fastest_torch->ms / best[0], 2);
  else
    fmt::print("moe vs pytorch: skipped, {}\n",
               with_torch ? torch.back().second.why_not : "--no-torch");
  print_target("moe vs sgemm (2 threads)", gflops(best[0]) / sgemm2, 0.7);
  print_target("2 shards vs 1 shard", best[1] / best[0], 1.6);
  return 0;
}
