// The starting noise of the diffusion decoders: standard normals from splitmix64 + Box–Muller,
// bit for bit as docs/model-architecture.md specifies, so that the C++ stages and the PyTorch
// reference start from the same latent and a packet gives the same picture on every run and
// machine. The stream is keyed by the stage's seed and the packet's sequence number.
#pragma once

#include <cstddef>
#include <cstdint>

namespace loom {

// splitmix64: one 64-bit state, advanced by the golden-ratio increment on every draw.
class splitmix64 {
 public:
  explicit splitmix64(std::uint64_t state) : state_(state) {}
  std::uint64_t next();

 private:
  std::uint64_t state_;
};

// The stream's seed for one packet: seed + 0x9E3779B97F4A7C15 · sequence (mod 2⁶⁴).
std::uint64_t noise_stream_seed(std::uint64_t seed, std::uint64_t sequence);

// out[n] for n < count: element n of the latent (row-major [frames, h, w, C]) is the Box–Muller
// normal sqrt(−2·ln u1)·cos(2π·u2) of the stream's draws 2n and 2n + 1, computed in double.
void gaussian_noise(std::uint64_t seed, std::uint64_t sequence, float* out, std::size_t count);

}  // namespace loom
