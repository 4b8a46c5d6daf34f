// One diffusion step of the flagship decoder (issue 4: at least 1.5 × the PyTorch reference of
// the same model): velocity_network::velocity with guidance ≠ 1, a conditional and an
// unconditional DiT forward combined by classifier-free guidance, against
// bench/torch/diffusion_step.py (the reference modules of tools/reference/model_reference.py) run
// in the same invocation with the same sizes and thread count, and on 1 thread as well: on the
// 2-core machine PyTorch's 2-thread run is often the slower (its OpenMP threads and OpenBLAS's
// spin against each other), and the target is judged against the faster of the two.
//
//   build/bench/bench_diffusion_step [--steps N] [--threads N] [--torch-runs N] [--no-torch]
//
// Sizes are the flagship example's decoder (`painter` in examples/multimodal/graph.toml), passed
// to the script, whose defaults are larger: an 8×8×4 latent in patches of 1 (64 tokens), d_model
// 128, 4 blocks of 4 heads, d_ff 256, guidance 3, and the 155 rows of 128 its backbone emits. The condition half of c is set once, as the decoder stage does per packet; the PyTorch
// step recomputes it, a [128]·[128, 128] product per branch. Both sides report the median step;
// each PyTorch figure is the best of --torch-runs invocations (2).
#include <cstdio>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "bench_peers.hpp"
#include "stages/model/diffusion/velocity_network.hpp"

using namespace loom;

int main(int argc, char** argv) {
  int steps = 100, threads = 2, torch_runs = 2;
  bool with_torch = true;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--no-torch") with_torch = false;
    if (i + 1 >= argc) continue;
    if (arg == "--steps") steps = std::max(1, std::stoi(argv[i + 1]));
    if (arg == "--threads") threads = std::max(1, std::stoi(argv[i + 1]));
    if (arg == "--torch-runs") torch_runs = std::max(1, std::stoi(argv[i + 1]));
  }

  decoder_config config;
  config.latent_size = 8;
  config.latent_channels = 4;
  config.patch = 1;
  config.image_size = 64;
  config.vae_channels = 32;
  config.d_model = 128;
  config.layers = 4;
  config.heads = 4;
  config.d_ff = 256;
  config.cond_dim = 128;
  config.guidance = 3.0;  // any value but 1 runs both branches
  config.check("bench_diffusion_step");
  const std::int64_t cond_rows = 155;

  bench::set_blas_threads(threads);
  auto& dev = host_device();
  velocity_network net(weights::open("random:1", velocity_network::specs(config)), config);
  const auto cond = bench::random_values(static_cast<std::size_t>(cond_rows * config.cond_dim), 7);
  const auto z = bench::random_values(static_cast<std::size_t>(config.latent_elements()), 8);
  std::vector<float> v(z.size());
  net.set_condition(dev, cond.data(), cond_rows);
  net.velocity(dev, z.data(), 1.0, config.guidance, v.data());
  std::vector<double> times;
  for (int i = 0; i < steps; ++i) {
    const auto start = bench::clock_type::now();
    net.velocity(dev, z.data(), 1.0 - static_cast<double>(i) / steps, config.guidance, v.data());
    times.push_back(bench::seconds_since(start));
  }
  const double loom_ms = bench::median(times) * 1e3;

  std::vector<std::pair<int, bench::torch_peer>> torch;  // (threads, figure)
  std::vector<int> peer_thread_counts{threads};
  if (threads != 1) peer_thread_counts.push_back(1);
  if (with_torch)
    for (int peer_threads : peer_thread_counts) {
      torch.emplace_back(
          peer_threads,
          bench::best_torch_peer(
              "diffusion_step.py",
              fmt::format("--latent-size {} --latent-channels {} --patch {} --d-model {} "
                          "--layers {} --heads {} --d-ff {} --cond-dim {} --cond-rows {} "
                          "--threads {} --repeat {}",
                          config.latent_size, config.latent_channels, config.patch, config.d_model,
                          config.layers, config.heads, config.d_ff, config.cond_dim, cond_rows,
                          peer_threads, steps),
              torch_runs));
      if (!torch.back().second.ms) break;
    }
  const bench::torch_peer* fastest_torch = nullptr;
  for (const auto& [peer_threads, peer] : torch)
    if (peer.ms && (fastest_torch == nullptr || *peer.ms < *fastest_torch->ms))
      fastest_torch = &peer;

  const double flops = config.velocity_flops();
  fmt::print(
      "diffusion step (guided: conditional + unconditional DiT forward): latent {}×{}×{}, "
      "patch {} ({} tokens), d_model {}, {} layers, {} heads, d_ff {}, {} cond rows of {}; "
      "{:.1f} MFLOP per step; {} threads; median of {} steps; OpenBLAS {} kernels\n\n",
      config.latent_size, config.latent_size, config.latent_channels, config.patch, config.tokens(),
      config.d_model, config.layers, config.heads, config.d_ff, cond_rows, config.cond_dim,
      flops / 1e6, threads, steps, openblas_get_corename());
  fmt::print("  {:<46} {:>10} {:>9}\n", "", "ms / step", "GFLOP/s");
  fmt::print("  {:<46} {:>10.3f} {:>9.1f}\n", "loom velocity_network::velocity", loom_ms,
             flops / loom_ms / 1e6);
  for (const auto& [peer_threads, peer] : torch)
    if (peer.ms)
      fmt::print("  {:<46} {:>10.3f} {:>9.1f}\n",
                 fmt::format("PyTorch {}, {} thread{} (best of {})", peer.version, peer_threads,
                             peer_threads == 1 ? "" : "s", torch_runs),
                 *peer.ms, flops / *peer.ms / 1e6);
  if (fastest_torch != nullptr) {
    const double ratio = *fastest_torch->ms / loom_ms;
    fmt::print("\ndiffusion step vs pytorch (its faster thread count): {:.2f}x (target >= 1.5){}\n",
               ratio, ratio >= 1.5 ? "" : " — MISSED");
  } else {
    fmt::print("\ndiffusion step vs pytorch: skipped, {}\n",
               with_torch ? torch.back().second.why_not : "--no-torch");
  }
  return 0;
}
