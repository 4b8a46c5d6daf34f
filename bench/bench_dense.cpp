// The dense layers of stages/model/layers (issue 4: at least 0.85 × raw BLAS on the same shapes):
// each layer's forward against cblas_sgemm calls of exactly the products it makes, with the same
// sizes and leading dimensions, in the same run:
//   linear (with bias)   [T, d]·[d, ff]
//   swiglu_mlp           gate|up [T, d]·[d, 2ff], then down [T, ff (ld 2ff)]·[ff, d]
//   attention_layer      q|k|v [T, d]·[d, 3d]; per head q·kᵀ [T, hd]·[hd, T] and p·v
//                        [T, T]·[T, hd]; o [T, d]·[d, d]
// What the layer adds to the products (the bias, the SwiGLU gate, RoPE, the transpose of k, the
// softmax) is what the ratio measures. One and two OpenBLAS threads, on the unpinned cpu device.
//
//   build/bench/bench_dense [--rounds N]
//
// Rounds alternate the layer and its peer, one call each, after one call of each that is not
// timed; the report gives the best of the rounds of each and their ratio.
#include <algorithm>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "bench_peers.hpp"
#include "stages/model/layers/attention_layer.hpp"
#include "stages/model/layers/linear.hpp"
#include "stages/model/layers/swiglu_mlp.hpp"

using namespace loom;

namespace {

struct shape {
  std::int64_t tokens, d, ff, heads;
};

// Best seconds of `layer` and of `peer`, one call of each per round.
std::pair<double, double> race(int rounds, const std::function<void()>& layer,
                               const std::function<void()>& peer) {
  layer();
  peer();
  double best_layer = 0, best_peer = 0;
  for (int round = 0; round < rounds; ++round) {
    auto start = bench::clock_type::now();
    layer();
    const double l = bench::seconds_since(start);
    start = bench::clock_type::now();
    peer();
    const double p = bench::seconds_since(start);
    best_layer = round == 0 ? l : std::min(best_layer, l);
    best_peer = round == 0 ? p : std::min(best_peer, p);
  }
  return {best_layer, best_peer};
}

struct row {
  std::string layer;
  double flops, layer_s, peer_s;
};

std::vector<row> measure(const shape& s, int rounds) {
  const std::int64_t t = s.tokens, d = s.d, ff = s.ff, hd = d / s.heads;
  auto specs = linear::specs("proj", d, ff, true, dtype::f32);
  for (auto& w : swiglu_mlp::specs("mlp", d, ff, dtype::f32)) specs.push_back(w);
  for (auto& w : attention_layer::specs("attn", d, s.heads, dtype::f32)) specs.push_back(w);
  auto w = weights::open("random:1", specs);
  linear proj(w, "proj");
  swiglu_mlp mlp(w, "mlp");
  attention_layer attn(w, "attn", s.heads);
  auto& dev = host_device();

  // The peers multiply the same sizes of matrices; their values do not change the time.
  const auto x = bench::random_values(static_cast<std::size_t>(t * d), 3);
  const auto b_ff = bench::random_values(static_cast<std::size_t>(d * 2 * ff), 4);
  const auto b_d = bench::random_values(static_cast<std::size_t>(std::max(ff, 3 * d) * d), 5);
  std::vector<float> y(static_cast<std::size_t>(t * std::max(ff, d))),
      wide(static_cast<std::size_t>(t * std::max(2 * ff, 3 * d))),
      scores(static_cast<std::size_t>(t * t)), mixed(static_cast<std::size_t>(t * d)),
      kt(static_cast<std::size_t>(d * t));

  std::vector<row> rows;
  auto [lin_l, lin_p] = race(
      rounds, [&] { proj.forward(dev, x.data(), t, d, y.data(), ff); },
      [&] { bench::sgemm(t, ff, d, x.data(), d, b_ff.data(), ff, y.data(), ff); });
  rows.push_back({"linear + bias", 2.0 * t * d * ff, lin_l, lin_p});

  auto [mlp_l, mlp_p] = race(
      rounds, [&] { mlp.forward(dev, x.data(), t, y.data()); },
      [&] {
        bench::sgemm(t, 2 * ff, d, x.data(), d, b_ff.data(), 2 * ff, wide.data(), 2 * ff);
        bench::sgemm(t, d, ff, wide.data(), 2 * ff, b_d.data(), d, y.data(), d);
      });
  rows.push_back({"swiglu_mlp", 2.0 * t * d * 3 * ff, mlp_l, mlp_p});

  auto [attn_l, attn_p] = race(
      rounds, [&] { attn.forward(dev, x.data(), t, y.data()); },
      [&] {
        bench::sgemm(t, 3 * d, d, x.data(), d, b_d.data(), 3 * d, wide.data(), 3 * d);
        for (std::int64_t h = 0; h < s.heads; ++h) {
          bench::sgemm(t, t, hd, wide.data() + h * hd, 3 * d, kt.data() + h * hd * t, t,
                       scores.data(), t);
          bench::sgemm(t, hd, t, scores.data(), t, wide.data() + 2 * d + h * hd, 3 * d,
                       mixed.data() + h * hd, d);
        }
        bench::sgemm(t, d, d, mixed.data(), d, b_d.data(), d, y.data(), d);
      });
  rows.push_back({"attention_layer", 2.0 * t * d * 4 * d + 4.0 * t * t * d, attn_l, attn_p});
  return rows;
}

}  // namespace

int main(int argc, char** argv) {
  int rounds = 7;
  for (int i = 1; i + 1 < argc; ++i)
    if (std::string(argv[i]) == "--rounds") rounds = std::max(1, std::stoi(argv[i + 1]));

  const std::vector<shape> shapes{{256, 512, 1024, 8}, {1024, 1024, 2048, 16}};
  fmt::print(
      "dense layers against cblas_sgemm of the same products, f32, OpenBLAS {} kernels; "
      "best of {} rounds\n\n",
      openblas_get_corename(), rounds);
  fmt::print("{:>26} {:>8} {:<16} {:>10} {:>10} {:>9} {:>9} {:>7}\n", "shape", "threads", "layer",
             "layer ms", "sgemm ms", "layer GF", "sgemm GF", "ratio");
  double worst = 1e9;
  std::string worst_at;
  for (const auto& s : shapes)
    for (int threads : {1, 2}) {
      bench::set_blas_threads(threads);
      for (const auto& r : measure(s, rounds)) {
        const double ratio = r.peer_s / r.layer_s;
        const auto label = fmt::format("T={} d={} ff={} h={}", s.tokens, s.d, s.ff, s.heads);
        fmt::print("{:>26} {:>8} {:<16} {:>10.3f} {:>10.3f} {:>9.1f} {:>9.1f} {:>7.2f}\n", label,
                   threads, r.layer, r.layer_s * 1e3, r.peer_s * 1e3, r.flops / r.layer_s / 1e9,
                   r.flops / r.peer_s / 1e9, ratio);
        if (ratio < worst) {
          worst = ratio;
          worst_at =
              fmt::format("{}, {}, {} thread{}", r.layer, label, threads, threads == 1 ? "" : "s");
        }
      }
    }
  fmt::print("\ndense vs sgemm, lowest: {:.2f}x at {} (target >= 0.85){}\n", worst, worst_at,
             worst >= 0.85 ? "" : " — MISSED");
  return 0;
}
