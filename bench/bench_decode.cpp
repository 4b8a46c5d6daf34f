// Decode + colour-conversion throughput: loom's video_source (u8 RGB) into a null_sink, compared
// in the same run with `ffmpeg -threads N -filter_threads N -i FILE -vf format=rgb24 -f null -`,
// which decodes the same file with the same thread count and converts every frame to the same
// packed RGB24. Both are timed on the wall clock from start to end, set-up included (process
// start for ffmpeg, graph start and open for loom); best of `--rounds`, alternating. Target:
// loom >= 0.9 x ffmpeg.
//
//   build/bench/bench_decode [--threads N] [--rounds N] [--seconds S] [--keep]
//
// The input is made first: S seconds of testsrc2 at 1280x720, 30 fps, H.264 (libx264), in a
// temporary directory.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

#include <fmt/format.h>

#include "actors/runtime.hpp"
#include "graphs/load.hpp"

using namespace loom;

namespace {

using seconds = std::chrono::duration<double>;

std::string video_graph(const std::string& file, int threads) {
  return fmt::format(R"([graph]
name = "decode"
version = 1
[stages.video]
type = "video_source"
uri = "{}"
threads = {}
dtype = "u8"
[stages.sink]
type = "null_sink"
inputs.in = {{ from = "video.out", capacity = 4 }}
)",
                     file, threads);
}

double run_loom(const std::string& file, int threads, std::uint64_t frames) {
  auto registry = stage_registry::with_builtins();
  auto loaded = load_graph_text(video_graph(file, threads), "decode.toml", {}, registry);
  if (!loaded.graph) {
    for (const auto& d : loaded.errors) std::fprintf(stderr, "%s\n", format(d).c_str());
    std::exit(1);
  }
  auto start = std::chrono::steady_clock::now();
  auto result = run_graph(*loaded.graph);
  double took = seconds(std::chrono::steady_clock::now() - start).count();
  if (result.status != run_result::outcome::completed ||
      result.stats.sinks.at("sink").packets != frames) {
    std::fprintf(stderr, "loom: %llu frames of %llu\n",
                 static_cast<unsigned long long>(result.stats.sinks.at("sink").packets),
                 static_cast<unsigned long long>(frames));
    std::exit(1);
  }
  return took;
}

double run_ffmpeg(const std::string& file, int threads) {
  auto command = fmt::format(
      "ffmpeg -nostdin -v error -threads {0} -filter_threads {0} -i '{1}' -vf format=rgb24 -f null "
      "-",
      threads, file);
  auto start = std::chrono::steady_clock::now();
  if (std::system(command.c_str()) != 0) {
    std::fprintf(stderr, "failed: %s\n", command.c_str());
    std::exit(1);
  }
  return seconds(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

int main(int argc, char** argv) {
  int threads = 2, rounds = 3, length_s = 10;
  bool keep = false;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--threads" && i + 1 < argc)
      threads = std::atoi(argv[++i]);
    else if (arg == "--rounds" && i + 1 < argc)
      rounds = std::atoi(argv[++i]);
    else if (arg == "--seconds" && i + 1 < argc)
      length_s = std::atoi(argv[++i]);
    else if (arg == "--keep")
      keep = true;
    else {
      std::fprintf(stderr,
                   "usage: bench_decode [--threads N] [--rounds N] [--seconds S] [--keep]\n");
      return 2;
    }
  }
  auto dir =
      std::filesystem::temp_directory_path() / ("loom-bench-decode-" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  auto file = (dir / "720p.mp4").string();
  auto make = fmt::format(
      "ffmpeg -nostdin -v error -y -f lavfi -i testsrc2=size=1280x720:rate=30 -t {} -c:v libx264 "
      "-pix_fmt yuv420p '{}'",
      length_s, file);
  if (std::system(make.c_str()) != 0) {
    std::fprintf(stderr, "failed: %s\n", make.c_str());
    return 1;
  }
  std::uint64_t frames = static_cast<std::uint64_t>(length_s) * 30;

  double best_loom = 1e9, best_ffmpeg = 1e9;
  for (int round = 0; round < rounds; ++round) {
    double f = run_ffmpeg(file, threads);
    double l = run_loom(file, threads, frames);
    best_ffmpeg = std::min(best_ffmpeg, f);
    best_loom = std::min(best_loom, l);
    std::printf("round %d: ffmpeg %.3f s, loom %.3f s\n", round + 1, f, l);
  }
  double loom_fps = static_cast<double>(frames) / best_loom;
  double ffmpeg_fps = static_cast<double>(frames) / best_ffmpeg;
  std::printf("720p H.264 -> RGB24, %d threads, %llu frames, best of %d\n", threads,
              static_cast<unsigned long long>(frames), rounds);
  std::printf("ffmpeg:  %8.1f frames/s\n", ffmpeg_fps);
  std::printf("loom:    %8.1f frames/s\n", loom_fps);
  std::printf("ratio:   %8.3f (target >= 0.9)\n", loom_fps / ffmpeg_fps);
  if (!keep) std::filesystem::remove_all(dir);
  return 0;
}
