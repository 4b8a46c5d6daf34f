// The conditioning vector's two halves (see conditioning.hpp).
#include "stages/model/diffusion/conditioning.hpp"

#include <algorithm>
#include <cmath>

#include "stages/model/kernels/activations.hpp"

namespace loom {

void timestep_embedding(double t, std::int64_t d, float* out) {
  const std::int64_t half = d / 2;
  const double log_theta = std::log(10000.0);
  for (std::int64_t j = 0; j < half; ++j) {
    const double angle =
        1000.0 * t * std::exp(-log_theta * static_cast<double>(j) / static_cast<double>(half));
    out[j] = static_cast<float>(std::cos(angle));
    out[half + j] = static_cast<float>(std::sin(angle));
  }
}

std::vector<weight_spec> conditioning::specs(const decoder_config& c) {
  std::vector<weight_spec> all;
  for (auto part : {linear::specs("time_mlp.0", c.d_model, c.d_model, true, c.type),
                    linear::specs("time_mlp.2", c.d_model, c.d_model, true, c.type),
                    linear::specs("cond_proj", c.cond_dim, c.d_model, true, c.type)})
    all.insert(all.end(), part.begin(), part.end());
  return all;
}

conditioning::conditioning(const weights& w, const decoder_config& c)
    : time_in_(w, "time_mlp.0"),
      time_out_(w, "time_mlp.2"),
      cond_proj_(w, "cond_proj"),
      mean_(static_cast<std::size_t>(c.cond_dim)),
      temb_(static_cast<std::size_t>(c.d_model)),
      hidden_(static_cast<std::size_t>(c.d_model)) {}

void conditioning::condition(device& dev, const float* cond, std::int64_t rows, float* out) {
  const std::int64_t dim = cond_proj_.in();
  std::fill(mean_.begin(), mean_.end(), 0.0f);
  if (cond != nullptr && rows > 0) {
    // Summed in double: a long prompt's rows would otherwise lose the small ones.
    for (std::int64_t j = 0; j < dim; ++j) {
      double sum = 0.0;
      for (std::int64_t r = 0; r < rows; ++r) sum += cond[r * dim + j];
      mean_[static_cast<std::size_t>(j)] = static_cast<float>(sum / static_cast<double>(rows));
    }
  }
  cond_proj_.forward(dev, mean_.data(), 1, dim, out, cond_proj_.out());
}

void conditioning::time(device& dev, double t, float* out) {
  const std::int64_t d = time_in_.in();
  timestep_embedding(t, d, temb_.data());
  time_in_.forward(dev, temb_.data(), 1, d, hidden_.data(), d);
  kernels::silu(hidden_.data(), d);
  time_out_.forward(dev, hidden_.data(), 1, d, out, time_out_.out());
}

}  // namespace loom
