// splitmix64 and the Box–Muller noise of the diffusion decoders (see noise.hpp).
#include "stages/model/diffusion/noise.hpp"

#include <cmath>

namespace loom {
namespace {

constexpr std::uint64_t golden_gamma = 0x9E3779B97F4A7C15ull;

// The top 24 bits, centred in their interval: never 0, so ln(u) is finite.
double unit_interval(std::uint64_t bits) {
  return (static_cast<double>(bits >> 40) + 0.5) / 16777216.0;
}

}  // namespace

std::uint64_t splitmix64::next() {
  state_ += golden_gamma;
  std::uint64_t z = state_;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

std::uint64_t noise_stream_seed(std::uint64_t seed, std::uint64_t sequence) {
  return seed + golden_gamma * sequence;
}

void gaussian_noise(std::uint64_t seed, std::uint64_t sequence, float* out, std::size_t count) {
  constexpr double two_pi = 6.283185307179586476925286766559;
  splitmix64 stream(noise_stream_seed(seed, sequence));
  for (std::size_t n = 0; n < count; ++n) {
    const double u1 = unit_interval(stream.next());
    const double u2 = unit_interval(stream.next());
    out[n] = static_cast<float>(std::sqrt(-2.0 * std::log(u1)) * std::cos(two_pi * u2));
  }
}

}  // namespace loom
