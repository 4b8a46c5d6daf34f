// The Euler sampler (see sampler.hpp).
#include "stages/model/diffusion/sampler.hpp"

namespace loom {

void sample_latent(device& dev, velocity_network& network, std::int64_t steps, double guidance,
                   float* z, float* velocity, std::int64_t elements) {
  const float step_count = static_cast<float>(steps);
  for (std::int64_t i = 0; i < steps; ++i) {
    const double t = 1.0 - static_cast<double>(i) / static_cast<double>(steps);
    network.velocity(dev, z, t, guidance, velocity);
    for (std::int64_t n = 0; n < elements; ++n) z[n] -= velocity[n] / step_count;
  }
}

}  // namespace loom
