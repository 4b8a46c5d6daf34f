// Hop throughput and zero-copy: source -> 3 passthrough -> sink, capacity 64, `block`, run on
// loom's runtime and compared, in the same run, with a raw CAF chain of the same shape and with
// GStreamer's `fakesrc ! 3x(queue ! identity) ! queue ! fakesink` when gst-launch-1.0 exists.
//
//   build/bench/bench_hop [--packets N] [--big-packets N] [--rounds N] [--only loom|raw] [--no-gst]
//
// Each round runs loom and then the raw CAF chain (and GStreamer) back to back; the report gives
// the median and the range over the rounds, and the median of the per-round ratios, which is
// the figure least moved by a neighbour loading the machine for a while. CPU time is the
// process's user + system time during each run: what a run costs, whoever else is busy.
// `--only` runs one side, for profilers.

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <sys/resource.h>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "actors/runtime.hpp"
#include "graphs/load.hpp"
#include "raw_caf_chain.hpp"

using namespace loom;

namespace {

// Wall and CPU seconds of one run of one side.
struct sample {
  double seconds = 0, cpu_seconds = 0;
};

double process_cpu_seconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  auto seconds = [](const timeval& t) { return static_cast<double>(t.tv_sec) + t.tv_usec / 1e6; };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  auto n = v.size();
  return n == 0 ? 0 : n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

// "median (min – max)" of a list of rates.
std::string spread(const std::vector<double>& v) {
  return fmt::format("{:10.0f} ({:.0f} – {:.0f})", median(v), *std::min_element(v.begin(), v.end()),
                     *std::max_element(v.begin(), v.end()));
}

std::string chain_graph(std::uint64_t packets, std::uint64_t bytes) {
  return fmt::format(R"([graph]
name = "hop"
version = 1
capacity = 64
policy = "block"
[stages.src]
type = "synthetic_source"
count = {}
shape = [{}]
[stages.hop1]
type = "passthrough"
inputs.in = "src.out"
[stages.hop2]
type = "passthrough"
inputs.in = "hop1.out"
[stages.hop3]
type = "passthrough"
inputs.in = "hop2.out"
[stages.sink]
type = "null_sink"
inputs.in = "hop3.out"
)",
                     packets, bytes);
}

run_stats run_chain(std::uint64_t packets, std::uint64_t bytes) {
  auto registry = stage_registry::with_builtins();
  auto loaded = load_graph_text(chain_graph(packets, bytes), "hop.toml", {}, registry);
  if (!loaded.graph) {
    for (const auto& d : loaded.errors) std::fprintf(stderr, "%s\n", format(d).c_str());
    std::exit(1);
  }
  auto result = run_graph(*loaded.graph);
  if (result.stats.sinks.at("sink").packets != packets) {
    std::fprintf(stderr, "loom chain lost packets\n");
    std::exit(1);
  }
  return result.stats;
}

// Buffers per second through GStreamer's equivalent pipeline, or 0 without gst-launch-1.0.
double gstreamer(std::uint64_t buffers) {
  if (std::system("command -v gst-launch-1.0 >/dev/null 2>&1") != 0) return 0;
  auto command = fmt::format(
      "gst-launch-1.0 -q fakesrc num-buffers={} sizetype=fixed sizemax=16 filltype=nothing "
      "! queue ! identity ! queue ! identity ! queue ! identity ! queue ! fakesink",
      buffers);
  auto start = std::chrono::steady_clock::now();
  if (std::system(command.c_str()) != 0) return 0;
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return static_cast<double>(buffers) / seconds;
}

}  // namespace

int main(int argc, char** argv) {
  std::uint64_t packets = 1000000, big_packets = 1000000;
  int rounds = 7;
  std::string only;
  bool with_gst = true;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--no-gst") with_gst = false;
    if (i + 1 >= argc) continue;
    if (arg == "--packets") packets = std::stoull(argv[i + 1]);
    if (arg == "--big-packets") big_packets = std::stoull(argv[i + 1]);
    if (arg == "--rounds") rounds = std::max(1, std::stoi(argv[i + 1]));
    if (arg == "--only") only = argv[i + 1];
  }
  auto n = static_cast<double>(packets);

  std::vector<double> loom_rates, raw_rates, ratios, loom_cpu, raw_cpu, gst_rates;
  run_stats small;
  for (int round = 0; round < rounds; ++round) {
    if (only != "raw") {
      double cpu = process_cpu_seconds();
      auto stats = run_chain(packets, 16);
      loom_cpu.push_back((process_cpu_seconds() - cpu) / n * 1e6);
      loom_rates.push_back(n / stats.seconds);
      if (stats.seconds <= small.seconds || round == 0) small = stats;
    }
    if (only != "loom") {
      double cpu = process_cpu_seconds();
      raw_rates.push_back(bench::raw_caf_chain(packets, 16));
      raw_cpu.push_back((process_cpu_seconds() - cpu) / n * 1e6);
    }
    if (only.empty()) ratios.push_back(loom_rates.back() / raw_rates.back());
    if (only.empty() && with_gst)
      if (double gst = gstreamer(packets / 4); gst > 0) gst_rates.push_back(gst);
  }

  std::printf("hop throughput, %llu packets of 16 bytes, source -> 3 passthrough -> sink, "
              "capacity 64, block; %d rounds, median (min – max)\n",
              static_cast<unsigned long long>(packets), rounds);
  if (!loom_rates.empty())
    std::printf("  loom            %s packets/s   CPU %.2f us/packet\n", spread(loom_rates).c_str(),
                median(loom_cpu));
  if (!raw_rates.empty())
    std::printf("  raw CAF chain   %s packets/s   CPU %.2f us/packet\n", spread(raw_rates).c_str(),
                median(raw_cpu));
  if (!ratios.empty())
    std::printf("  loom/raw CAF    %.2f median of the rounds' ratios (%.2f – %.2f); of the medians "
                "%.2f, of the bests %.2f (target >= 0.80)\n",
                median(ratios), *std::min_element(ratios.begin(), ratios.end()),
                *std::max_element(ratios.begin(), ratios.end()),
                median(loom_rates) / median(raw_rates),
                *std::max_element(loom_rates.begin(), loom_rates.end()) /
                    *std::max_element(raw_rates.begin(), raw_rates.end()));
  if (!gst_rates.empty())
    std::printf("  GStreamer       %s buffers/s   loom/GStreamer = %.2f (target >= 4.00)\n",
                spread(gst_rates).c_str(), median(loom_rates) / median(gst_rates));
  else if (only.empty() && with_gst)
    std::printf("  GStreamer       not installed (gst-launch-1.0), skipped\n");
  if (only == "raw" || big_packets == 0) return 0;

  // The same chain and count with 64 MiB tensors, best of three; filling the source's one
  // 64 MiB tensor at start-up is a few milliseconds of a run of about a second.
  run_stats big;
  for (int round = 0; round < 3; ++round) {
    auto stats = run_chain(big_packets, 64ull << 20);
    if (round == 0 || stats.seconds < big.seconds) big = stats;
  }
  double per_small_us = small.seconds / n * 1e6;
  double per_big_us = big.seconds / static_cast<double>(big_packets) * 1e6;
  std::printf("zero-copy, %llu packets of 64 MiB through the same chain (best of 3; 16 B: best of "
              "the rounds above)\n",
              static_cast<unsigned long long>(big_packets));
  std::printf("  time per packet %8.3f us (16 B: %.3f us)  ratio = %.2f (target <= 1.50)\n",
              per_big_us, per_small_us, per_big_us / per_small_us);
  std::printf("  bytes_copied    %llu (target 0)\n",
              static_cast<unsigned long long>(big.bytes_copied));
  return 0;
}
