// The rectified-flow Euler sampler of the diffusion decoders (docs/model-architecture.md): the
// latent starts as noise at t = 1 and takes `steps` Euler steps of the guided velocity down to
// t = 0: for i = 0 … steps−1, t_i = 1 − i/steps, z ← z − v(z, t_i) / steps.
#pragma once

#include <cstdint>

#include "devices/device.hpp"
#include "stages/model/diffusion/velocity_network.hpp"

namespace loom {

// z: the noise on entry, the latent at t = 0 on return ([frames, h, w, C] dense); velocity: a
// scratch of the same size. The network's condition must be set.
void sample_latent(device& dev, velocity_network& network, std::int64_t steps, double guidance,
                   float* z, float* velocity, std::int64_t elements);

}  // namespace loom
