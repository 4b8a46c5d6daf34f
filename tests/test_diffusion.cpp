// The diffusion decoders: the 3×3 convolution and upsampling kernels against naive loops, the
// splitmix64 + Box–Muller noise against a second implementation written here, the velocity
// network against a naive DiT written here from docs/model-architecture.md, the pixel decoder
// against naive loops, the sampler's schedule and guidance, the two stages (shapes, range,
// determinism, errors) and, last, both stages against the PyTorch reference's goldens in
// tests/model/goldens/ (f32 and bf16).
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <new>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "devices/float_convert.hpp"
#include "stages/model/diffusion/conditioning.hpp"
#include "stages/model/diffusion/decoder_config.hpp"
#include "stages/model/diffusion/noise.hpp"
#include "stages/model/diffusion/pixel_decoder.hpp"
#include "stages/model/diffusion/sampler.hpp"
#include "stages/model/diffusion/velocity_network.hpp"
#include "stages/model/json_value.hpp"
#include "stages/model/kernels/conv.hpp"
#include "stages/model/layers/widen.hpp"
#include "stages/model/safetensors.hpp"
#include "stages/model/weights.hpp"
#include "stages/registry.hpp"
#include "model_golden.hpp"

using namespace loom;

// Every operator new in the process is counted, so a test can show that a warm evaluation
// allocates nothing.
namespace {
std::atomic<std::uint64_t> heap_allocations{0};
}  // namespace

void* operator new(std::size_t bytes) {
  ++heap_allocations;
  if (void* p = std::malloc(bytes == 0 ? 1 : bytes)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }

namespace {

std::vector<float> random_floats(std::size_t n, unsigned seed, float scale = 1.0f) {
  std::mt19937 generator(seed);
  std::uniform_real_distribution<float> uniform(-scale, scale);
  std::vector<float> out(n);
  for (auto& x : out) x = uniform(generator);
  return out;
}

float round_bf16(float x) { return f32_from_bf16(bf16_from_f32(x)); }

double relative_rms(const std::vector<float>& found, const std::vector<float>& expected) {
  BOOST_REQUIRE_EQUAL(found.size(), expected.size());
  double error = 0, norm = 0;
  for (std::size_t i = 0; i < found.size(); ++i) {
    error += (double(found[i]) - expected[i]) * (double(found[i]) - expected[i]);
    norm += double(expected[i]) * expected[i];
  }
  return std::sqrt(error / std::max(norm, 1e-300));
}

double max_abs_difference(const float* a, const float* b, std::size_t n) {
  double most = 0;
  for (std::size_t i = 0; i < n; ++i) most = std::max(most, std::abs(double(a[i]) - b[i]));
  return most;
}

std::vector<float> values_of(const tensor& t) { return widen_to_f32(t); }

// -- naive references ------------------------------------------------------------------------

// y[py, px, o] = bias[o] + Σ x[py+ky−1, px+kx−1, c] · w[ky, kx, c, o], zero outside the image.
std::vector<float> naive_conv(const std::vector<float>& x, std::int64_t h, std::int64_t w,
                              std::int64_t in, const std::vector<float>& weight,
                              const std::vector<float>& bias, std::int64_t out) {
  std::vector<float> y(static_cast<std::size_t>(h * w * out));
  for (std::int64_t py = 0; py < h; ++py)
    for (std::int64_t px = 0; px < w; ++px)
      for (std::int64_t o = 0; o < out; ++o) {
        double sum = bias.empty() ? 0.0 : bias[o];
        for (std::int64_t ky = 0; ky < 3; ++ky)
          for (std::int64_t kx = 0; kx < 3; ++kx) {
            const std::int64_t sy = py + ky - 1, sx = px + kx - 1;
            if (sy < 0 || sy >= h || sx < 0 || sx >= w) continue;
            for (std::int64_t c = 0; c < in; ++c)
              sum += double(x[(sy * w + sx) * in + c]) * weight[((ky * 3 + kx) * in + c) * out + o];
          }
        y[(py * w + px) * out + o] = static_cast<float>(sum);
      }
  return y;
}

double silu(double x) { return x / (1.0 + std::exp(-x)); }

// The rows of x [rows, in] times a weight tensor [in, out] (+ bias), in double; with bf16
// weights the activations are rounded to bf16 first, as every product in the model does.
std::vector<double> naive_linear(const std::vector<double>& x, std::int64_t rows, const weights& w,
                                 const std::string& prefix) {
  const tensor& weight = w.get(prefix + ".weight");
  const auto wv = values_of(weight);
  const std::int64_t in = weight.shape()[0], out = weight.shape()[1];
  std::vector<float> bias;
  if (w.contains(prefix + ".bias")) bias = values_of(w.get(prefix + ".bias"));
  const bool bf16 = weight.type() == dtype::bf16;
  std::vector<double> y(static_cast<std::size_t>(rows * out));
  for (std::int64_t r = 0; r < rows; ++r)
    for (std::int64_t o = 0; o < out; ++o) {
      double sum = bias.empty() ? 0.0 : bias[o];
      for (std::int64_t i = 0; i < in; ++i) {
        double a = x[r * in + i];
        if (bf16) a = round_bf16(static_cast<float>(a));
        sum += a * wv[i * out + o];
      }
      y[r * out + o] = sum;
    }
  return y;
}

std::vector<double> naive_layer_norm(const std::vector<double>& x, std::int64_t rows,
                                     std::int64_t d, const double* shift, const double* scale) {
  std::vector<double> y(x.size());
  for (std::int64_t r = 0; r < rows; ++r) {
    double mean = 0, var = 0;
    for (std::int64_t i = 0; i < d; ++i) mean += x[r * d + i];
    mean /= d;
    for (std::int64_t i = 0; i < d; ++i) var += (x[r * d + i] - mean) * (x[r * d + i] - mean);
    var /= d;
    for (std::int64_t i = 0; i < d; ++i)
      y[r * d + i] = (x[r * d + i] - mean) / std::sqrt(var + 1e-6) * (1 + scale[i]) + shift[i];
  }
  return y;
}

// In place on q or k [T, heads·hd]: the rotate-half RoPE of the docs at position = row.
void naive_rope(std::vector<double>& x, std::int64_t tokens, std::int64_t heads, std::int64_t hd) {
  for (std::int64_t p = 0; p < tokens; ++p)
    for (std::int64_t h = 0; h < heads; ++h) {
      double* v = &x[p * heads * hd + h * hd];
      for (std::int64_t j = 0; j < hd / 2; ++j) {
        const double angle = p * std::pow(10000.0, -2.0 * j / hd);
        const double a = v[j], b = v[j + hd / 2];
        v[j] = a * std::cos(angle) - b * std::sin(angle);
        v[j + hd / 2] = b * std::cos(angle) + a * std::sin(angle);
      }
    }
}

// One branch of the docs' velocity network, from scratch: c is the conditioning vector.
std::vector<double> naive_velocity_branch(const weights& w, const decoder_config& cfg,
                                          const std::vector<float>& z,
                                          const std::vector<double>& c) {
  const std::int64_t d = cfg.d_model, p = cfg.patch, C = cfg.latent_channels,
                     side = cfg.latent_size / p, T = cfg.tokens(), size = cfg.token_size();
  const std::int64_t heads = cfg.heads, hd = d / heads;
  auto latent_index = [&](std::int64_t f, std::int64_t y, std::int64_t x, std::int64_t ch) {
    return ((f * cfg.latent_size + y) * cfg.latent_size + x) * C + ch;
  };
  std::vector<double> patches(static_cast<std::size_t>(T * size));
  for (std::int64_t f = 0; f < cfg.frames; ++f)
    for (std::int64_t pr = 0; pr < side; ++pr)
      for (std::int64_t pc = 0; pc < side; ++pc)
        for (std::int64_t py = 0; py < p; ++py)
          for (std::int64_t px = 0; px < p; ++px)
            for (std::int64_t ch = 0; ch < C; ++ch)
              patches[((f * side + pr) * side + pc) * size + (py * p + px) * C + ch] =
                  z[latent_index(f, pr * p + py, pc * p + px, ch)];
  auto x = naive_linear(patches, T, w, "latent_embed");
  const auto position = values_of(w.get("pos_embed.weight"));
  for (std::size_t i = 0; i < position.size(); ++i) x[i] += position[i];
  std::vector<double> silu_c(c.size());
  for (std::size_t i = 0; i < c.size(); ++i) silu_c[i] = silu(c[i]);

  for (std::int64_t layer = 0; layer < cfg.layers; ++layer) {
    const std::string prefix = "blocks." + std::to_string(layer);
    const auto mod = naive_linear(silu_c, 1, w, prefix + ".ada");
    const double* shift1 = &mod[0];
    const double* scale1 = &mod[d];
    const double* gate1 = &mod[2 * d];
    const double* shift2 = &mod[3 * d];
    const double* scale2 = &mod[4 * d];
    const double* gate2 = &mod[5 * d];

    auto h = naive_layer_norm(x, T, d, shift1, scale1);
    auto q = naive_linear(h, T, w, prefix + ".attn.q");
    auto k = naive_linear(h, T, w, prefix + ".attn.k");
    auto v = naive_linear(h, T, w, prefix + ".attn.v");
    naive_rope(q, T, heads, hd);
    naive_rope(k, T, heads, hd);
    std::vector<double> mixed(static_cast<std::size_t>(T * d), 0.0);
    for (std::int64_t head = 0; head < heads; ++head)
      for (std::int64_t i = 0; i < T; ++i) {
        std::vector<double> scores(static_cast<std::size_t>(T));
        double top = -1e300, total = 0;
        for (std::int64_t j = 0; j < T; ++j) {
          double s = 0;
          for (std::int64_t e = 0; e < hd; ++e)
            s += q[i * d + head * hd + e] * k[j * d + head * hd + e];
          scores[j] = s / std::sqrt(double(hd));
          top = std::max(top, scores[j]);
        }
        for (auto& s : scores) total += (s = std::exp(s - top));
        for (std::int64_t j = 0; j < T; ++j)
          for (std::int64_t e = 0; e < hd; ++e)
            mixed[i * d + head * hd + e] += scores[j] / total * v[j * d + head * hd + e];
      }
    const auto attended = naive_linear(mixed, T, w, prefix + ".attn.o");
    for (std::int64_t r = 0; r < T; ++r)
      for (std::int64_t i = 0; i < d; ++i) x[r * d + i] += gate1[i] * attended[r * d + i];

    h = naive_layer_norm(x, T, d, shift2, scale2);
    auto gate = naive_linear(h, T, w, prefix + ".mlp.gate");
    const auto up = naive_linear(h, T, w, prefix + ".mlp.up");
    for (std::size_t i = 0; i < gate.size(); ++i) gate[i] = silu(gate[i]) * up[i];
    const auto down = naive_linear(gate, T, w, prefix + ".mlp.down");
    for (std::int64_t r = 0; r < T; ++r)
      for (std::int64_t i = 0; i < d; ++i) x[r * d + i] += gate2[i] * down[r * d + i];
  }
  const auto mod = naive_linear(silu_c, 1, w, "final.ada");
  const auto h = naive_layer_norm(x, T, d, &mod[0], &mod[d]);
  const auto out = naive_linear(h, T, w, "final.proj");
  std::vector<double> v(z.size());
  for (std::int64_t f = 0; f < cfg.frames; ++f)
    for (std::int64_t pr = 0; pr < side; ++pr)
      for (std::int64_t pc = 0; pc < side; ++pc)
        for (std::int64_t py = 0; py < p; ++py)
          for (std::int64_t px = 0; px < p; ++px)
            for (std::int64_t ch = 0; ch < C; ++ch)
              v[latent_index(f, pr * p + py, pc * p + px, ch)] =
                  out[((f * side + pr) * side + pc) * size + (py * p + px) * C + ch];
  return v;
}

// c at time t for a mean condition row (zeros: the unconditional branch).
std::vector<double> naive_conditioning(const weights& w, const decoder_config& cfg,
                                       const std::vector<double>& cond_mean, double t) {
  const std::int64_t d = cfg.d_model, half = d / 2;
  std::vector<double> temb(static_cast<std::size_t>(d));
  for (std::int64_t j = 0; j < half; ++j) {
    const double angle = 1000.0 * t * std::exp(-std::log(10000.0) * j / half);
    temb[j] = static_cast<float>(std::cos(angle));
    temb[half + j] = static_cast<float>(std::sin(angle));
  }
  auto hidden = naive_linear(temb, 1, w, "time_mlp.0");
  for (auto& x : hidden) x = silu(x);
  const auto time = naive_linear(hidden, 1, w, "time_mlp.2");
  auto c = naive_linear(cond_mean, 1, w, "cond_proj");
  for (std::int64_t i = 0; i < d; ++i) c[i] += time[i];
  return c;
}

std::vector<double> mean_rows(const std::vector<float>& cond, std::int64_t rows, std::int64_t dim) {
  std::vector<double> mean(static_cast<std::size_t>(dim), 0.0);
  for (std::int64_t r = 0; r < rows; ++r)
    for (std::int64_t j = 0; j < dim; ++j) mean[j] += cond[r * dim + j];
  for (auto& m : mean) m /= rows;
  return mean;
}

decoder_config tiny_config(std::int64_t frames, std::int64_t patch) {
  decoder_config c;
  c.frames = frames;
  c.latent_size = 4;
  c.latent_channels = 3;
  c.patch = patch;
  c.image_size = 16;
  c.vae_channels = 5;
  c.d_model = 16;
  c.layers = 2;
  c.heads = 2;
  c.d_ff = 24;
  c.cond_dim = 12;
  c.steps = 3;
  return c;
}

std::vector<weight_spec> all_specs(const decoder_config& c) {
  auto specs = velocity_network::specs(c);
  auto pixels = pixel_decoder::specs(c);
  specs.insert(specs.end(), pixels.begin(), pixels.end());
  return specs;
}

// -- stages driven by hand --------------------------------------------------------------------

param_values stage_params(const stage_spec& spec,
                          const std::map<std::string, param_value, std::less<>>& settings) {
  std::map<std::string, param_value, std::less<>> values;
  for (const auto& p : spec.params)
    if (p.default_value) values[p.key] = *p.default_value;
  for (const auto& [key, value] : settings) values[key] = value;
  return param_values(std::move(values));
}

packet_ptr cond_packet(const std::vector<float>& values, std::int64_t rows, std::int64_t dim,
                       std::uint64_t sequence, const std::string& name = "data") {
  tensor t = tensor::zeros(dtype::f32, {rows, dim});
  std::memcpy(t.raw(), values.data(), values.size() * sizeof(float));
  packet p;
  p.sequence = sequence;
  p.metadata.emplace_back("prompt", "a red fox");
  p.tensors.push_back({name, std::move(t)});
  return std::make_shared<const packet>(std::move(p));
}

struct driven_stage {
  driven_stage(const std::string& type,
               const std::map<std::string, param_value, std::less<>>& settings)
      : registry(stage_registry::with_builtins()),
        spec(*registry.find(type)),
        ctx("dec", spec, stage_params(spec, settings)),
        instance(spec.make()) {
    instance->open(ctx);
  }

  // The output packet for one input.
  packet run(packet_ptr input) {
    ctx.emitted().clear();
    ctx.set_input(0, std::move(input));
    instance->process(ctx);
    BOOST_REQUIRE_EQUAL(ctx.emitted().size(), 1u);
    return *ctx.emitted().front().second;
  }

  stage_registry registry;
  const stage_spec& spec;
  stage_context ctx;
  std::unique_ptr<stage> instance;
};

std::string open_error(const std::string& type,
                       const std::map<std::string, param_value, std::less<>>& settings) {
  try {
    driven_stage s(type, settings);
  } catch (const std::exception& e) {
    return e.what();
  }
  return "(opened)";
}

const std::map<std::string, param_value, std::less<>> small_settings = {
    {"latent_size", std::int64_t{4}},    {"image_size", std::int64_t{16}},
    {"vae_channels", std::int64_t{6}},   {"d_model", std::int64_t{16}},
    {"heads", std::int64_t{2}},          {"d_ff", std::int64_t{24}},
    {"cond_dim", std::int64_t{8}},       {"steps", std::int64_t{2}},
    {"weights", std::string("random:4")}};

std::map<std::string, param_value, std::less<>> with(
    std::map<std::string, param_value, std::less<>> settings,
    const std::map<std::string, param_value, std::less<>>& more) {
  for (const auto& [key, value] : more) settings[key] = value;
  return settings;
}

}  // namespace

// -- kernels ----------------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(conv3x3_matches_a_naive_convolution) {
  const std::int64_t h = 5, w = 7, in = 3, out = 4;
  const auto x = random_floats(h * w * in, 1);
  const auto weight = random_floats(9 * in * out, 2, 0.5f);
  const auto bias = random_floats(out, 3);
  std::vector<float> y(h * w * out);
  conv_scratch scratch;
  conv3x3(host_device(), x.data(), h, w, in, reinterpret_cast<const std::byte*>(weight.data()),
          dtype::f32, bias.data(), out, y.data(), scratch);
  BOOST_TEST(relative_rms(y, naive_conv(x, h, w, in, weight, bias, out)) < 1e-6);

  // Without a bias; the scratch from the larger call is reused for a smaller one.
  const auto small = random_floats(2 * 3 * in, 4);
  std::vector<float> y_small(2 * 3 * out);
  conv3x3(host_device(), small.data(), 2, 3, in, reinterpret_cast<const std::byte*>(weight.data()),
          dtype::f32, nullptr, out, y_small.data(), scratch);
  BOOST_TEST(relative_rms(y_small, naive_conv(small, 2, 3, in, weight, {}, out)) < 1e-6);
}

BOOST_AUTO_TEST_CASE(bf16_conv3x3_rounds_its_input_and_accumulates_in_f32) {
  const std::int64_t h = 4, w = 4, in = 5, out = 3;
  const auto x = random_floats(h * w * in, 5);
  auto weight = random_floats(9 * in * out, 6, 0.5f);
  const auto bias = random_floats(out, 7);
  std::vector<std::uint16_t> weight16(weight.size());
  for (std::size_t i = 0; i < weight.size(); ++i) {
    weight16[i] = bf16_from_f32(weight[i]);
    weight[i] = f32_from_bf16(weight16[i]);
  }
  std::vector<float> rounded_x(x.size());
  std::transform(x.begin(), x.end(), rounded_x.begin(), round_bf16);
  std::vector<float> y(h * w * out);
  conv_scratch scratch;
  conv3x3(host_device(), x.data(), h, w, in, reinterpret_cast<const std::byte*>(weight16.data()),
          dtype::bf16, bias.data(), out, y.data(), scratch);
  BOOST_TEST(relative_rms(y, naive_conv(rounded_x, h, w, in, weight, bias, out)) < 1e-6);
  // And it differs from the unrounded product: the rounding really happens.
  BOOST_TEST(relative_rms(y, naive_conv(x, h, w, in, weight, bias, out)) > 1e-5);
}

BOOST_AUTO_TEST_CASE(upsampling_repeats_each_pixel_in_a_2x2_block) {
  const std::int64_t h = 3, w = 5, c = 2;
  const auto x = random_floats(h * w * c, 8);
  std::vector<float> y(4 * h * w * c, -1.0f);
  upsample_nearest_2x(x.data(), h, w, c, y.data());
  for (std::int64_t py = 0; py < 2 * h; ++py)
    for (std::int64_t px = 0; px < 2 * w; ++px)
      for (std::int64_t ch = 0; ch < c; ++ch)
        BOOST_TEST(y[(py * 2 * w + px) * c + ch] == x[((py / 2) * w + px / 2) * c + ch]);
}

// -- noise ------------------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(splitmix64_gives_the_published_stream) {
  // Vigna's reference splitmix64 seeded with 0 (also what Java's SplittableRandom(0) draws).
  splitmix64 stream(0);
  BOOST_TEST(stream.next() == 0xE220A8397B1DCDAFull);
  BOOST_TEST(stream.next() == 0x6E789E6AA1B965F4ull);
  BOOST_TEST(stream.next() == 0x06C45D188009454Full);
}

BOOST_AUTO_TEST_CASE(noise_is_box_muller_over_the_packets_own_stream) {
  // A second implementation, straight from the docs' formulas.
  auto reference = [](std::uint64_t seed, std::uint64_t sequence, std::size_t count) {
    std::uint64_t s = seed + 0x9E3779B97F4A7C15ull * sequence;
    auto draw = [&s] {
      s += 0x9E3779B97F4A7C15ull;
      std::uint64_t z = s;
      z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
      z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
      return z ^ (z >> 31);
    };
    std::vector<float> out;
    for (std::size_t n = 0; n < count; ++n) {
      const std::uint64_t a = draw(), b = draw();
      const double u1 = (double(a >> 40) + 0.5) / std::ldexp(1.0, 24);
      const double u2 = (double(b >> 40) + 0.5) / std::ldexp(1.0, 24);
      out.push_back(float(std::sqrt(-2 * std::log(u1)) * std::cos(2 * M_PI * u2)));
    }
    return out;
  };
  for (auto [seed, sequence] :
       {std::pair<std::uint64_t, std::uint64_t>{0, 0}, {11, 0}, {11, 3}, {~0ull, 7}}) {
    std::vector<float> noise(37);
    gaussian_noise(seed, sequence, noise.data(), noise.size());
    const auto expected = reference(seed, sequence, noise.size());
    for (std::size_t i = 0; i < noise.size(); ++i) BOOST_TEST(noise[i] == expected[i]);
  }
  // A prefix of a longer draw: element n depends only on draws 2n and 2n + 1.
  std::vector<float> longer(100), shorter(10);
  gaussian_noise(5, 2, longer.data(), longer.size());
  gaussian_noise(5, 2, shorter.data(), shorter.size());
  BOOST_TEST(std::equal(shorter.begin(), shorter.end(), longer.begin()));
}

BOOST_AUTO_TEST_CASE(noise_is_standard_normal) {
  std::vector<float> noise(200000);
  gaussian_noise(3, 1, noise.data(), noise.size());
  double mean = 0, square = 0;
  for (float x : noise) {
    mean += x;
    square += double(x) * x;
  }
  mean /= noise.size();
  const double variance = square / noise.size() - mean * mean;
  BOOST_TEST(std::abs(mean) < 0.01);
  BOOST_TEST(std::abs(variance - 1.0) < 0.01);
}

// -- the velocity network and the sampler ----------------------------------------------------

BOOST_AUTO_TEST_CASE(timestep_embedding_is_cos_then_sin) {
  const std::int64_t d = 10;
  std::vector<float> temb(d);
  timestep_embedding(0.375, d, temb.data());
  for (std::int64_t j = 0; j < d / 2; ++j) {
    const double f = std::pow(10000.0, -double(j) / (d / 2));
    BOOST_TEST(temb[j] == std::cos(375.0 * f), boost::test_tools::tolerance(1e-6));
    BOOST_TEST(temb[d / 2 + j] == std::sin(375.0 * f), boost::test_tools::tolerance(1e-6));
  }
}

BOOST_AUTO_TEST_CASE(the_velocity_network_matches_a_naive_dit) {
  for (auto [frames, patch] : {std::pair<std::int64_t, std::int64_t>{1, 1}, {2, 2}}) {
    BOOST_TEST_CONTEXT("frames " << frames << ", patch " << patch) {
      const auto cfg = tiny_config(frames, patch);
      auto w = weights::open("random:9", velocity_network::specs(cfg));
      velocity_network net(w, cfg);
      const std::int64_t rows = 3;
      const auto cond = random_floats(rows * cfg.cond_dim, 10);
      const auto z = random_floats(cfg.latent_elements(), 11, 2.0f);
      net.set_condition(host_device(), cond.data(), rows);

      const double t = 0.625;
      const auto c_cond = naive_conditioning(w, cfg, mean_rows(cond, rows, cfg.cond_dim), t);
      const auto c_zero = naive_conditioning(w, cfg, std::vector<double>(cfg.cond_dim, 0.0), t);
      const auto v_c = naive_velocity_branch(w, cfg, z, c_cond);
      const auto v_u = naive_velocity_branch(w, cfg, z, c_zero);

      std::vector<float> v(z.size()), expected(z.size());
      net.velocity(host_device(), z.data(), t, 1.0, v.data());
      std::transform(v_c.begin(), v_c.end(), expected.begin(), [](double x) { return float(x); });
      BOOST_TEST(relative_rms(v, expected) < 1e-5);

      const double g = 2.5;
      net.velocity(host_device(), z.data(), t, g, v.data());
      for (std::size_t i = 0; i < z.size(); ++i)
        expected[i] = float(v_u[i] + g * (v_c[i] - v_u[i]));
      BOOST_TEST(relative_rms(v, expected) < 1e-5);
    }
  }
}

BOOST_AUTO_TEST_CASE(bf16_velocity_rounds_every_product_input) {
  auto cfg = tiny_config(1, 1);
  cfg.type = dtype::bf16;
  auto w = weights::open("random:12", velocity_network::specs(cfg));
  velocity_network net(w, cfg);
  const auto cond = random_floats(2 * cfg.cond_dim, 13);
  const auto z = random_floats(cfg.latent_elements(), 14);
  net.set_condition(host_device(), cond.data(), 2);
  std::vector<float> v(z.size()), expected(z.size());
  net.velocity(host_device(), z.data(), 1.0, 1.0, v.data());
  const auto naive = naive_velocity_branch(
      w, cfg, z, naive_conditioning(w, cfg, mean_rows(cond, 2, cfg.cond_dim), 1.0));
  std::transform(naive.begin(), naive.end(), expected.begin(), [](double x) { return float(x); });
  // Activations that land near a bf16 rounding boundary may round the other way in f32 than in
  // double, hence a bound looser than f32's.
  BOOST_TEST(relative_rms(v, expected) < 5e-3);
}

BOOST_AUTO_TEST_CASE(unconditional_is_the_zero_condition_and_guidance_one_the_conditional) {
  const auto cfg = tiny_config(1, 1);
  auto w = weights::open("random:15", velocity_network::specs(cfg));
  velocity_network net(w, cfg);
  const auto cond = random_floats(4 * cfg.cond_dim, 16);
  const auto zeros = std::vector<float>(cfg.cond_dim, 0.0f);
  const auto z = random_floats(cfg.latent_elements(), 17);
  std::vector<float> guided_zero(z.size()), conditional_on_zeros(z.size());
  std::vector<float> conditional(z.size()), guided(z.size());

  net.set_condition(host_device(), cond.data(), 4);
  net.velocity(host_device(), z.data(), 0.5, 0.0, guided_zero.data());  // v_u alone
  net.velocity(host_device(), z.data(), 0.5, 1.0, conditional.data());
  net.velocity(host_device(), z.data(), 0.5, 3.0, guided.data());
  net.set_condition(host_device(), zeros.data(), 1);
  net.velocity(host_device(), z.data(), 0.5, 1.0, conditional_on_zeros.data());

  BOOST_TEST(relative_rms(guided_zero, conditional_on_zeros) < 1e-6);
  BOOST_TEST(relative_rms(conditional, guided_zero) > 1e-3);  // the condition matters
  std::vector<float> mixed(z.size());
  for (std::size_t i = 0; i < z.size(); ++i)
    mixed[i] = guided_zero[i] + 3.0f * (conditional[i] - guided_zero[i]);
  BOOST_TEST(relative_rms(guided, mixed) < 1e-5);
}

BOOST_AUTO_TEST_CASE(the_sampler_takes_euler_steps_from_t_1_to_0) {
  const auto cfg = tiny_config(1, 1);
  auto w = weights::open("random:18", velocity_network::specs(cfg));
  velocity_network net(w, cfg);
  const auto cond = random_floats(2 * cfg.cond_dim, 19);
  net.set_condition(host_device(), cond.data(), 2);
  const auto noise = random_floats(cfg.latent_elements(), 20);
  const std::size_t n = noise.size();

  for (std::int64_t steps : {1, 2, 4}) {
    BOOST_TEST_CONTEXT("steps " << steps) {
      // By hand: Euler at t = 1, 1 − 1/steps, …, each step a velocity at that time.
      std::vector<float> expected = noise, v(n);
      for (std::int64_t i = 0; i < steps; ++i) {
        net.velocity(host_device(), expected.data(), 1.0 - double(i) / steps, 2.0, v.data());
        for (std::size_t e = 0; e < n; ++e) expected[e] -= v[e] / float(steps);
      }
      std::vector<float> z = noise, scratch(n);
      sample_latent(host_device(), net, steps, 2.0, z.data(), scratch.data(), n);
      BOOST_TEST(max_abs_difference(z.data(), expected.data(), n) == 0.0);
    }
  }
}

BOOST_AUTO_TEST_CASE(warm_steps_and_decoding_allocate_nothing) {
  for (auto type : {dtype::f32, dtype::bf16}) {
    auto cfg = tiny_config(2, 1);
    cfg.type = type;
    auto w = weights::open("random:30", all_specs(cfg));
    velocity_network net(w, cfg);
    pixel_decoder decoder(w, cfg);
    const auto cond = random_floats(3 * cfg.cond_dim, 31);
    std::vector<float> z(cfg.latent_elements()), v(z.size()), pixels(cfg.frame_pixels() * 3);
    auto decode = [&] {
      gaussian_noise(1, 2, z.data(), z.size());
      net.set_condition(host_device(), cond.data(), 3);
      sample_latent(host_device(), net, 4, 2.0, z.data(), v.data(), z.size());
      decoder.decode(host_device(), z.data(), pixels.data());
    };
    const auto cold = heap_allocations.load();
    decode();  // grows the layers' scratch: the count sees the library's allocations
    BOOST_TEST(heap_allocations.load() > cold);
    const auto before = heap_allocations.load();
    decode();
    BOOST_TEST(heap_allocations.load() - before == 0u);
  }
}

BOOST_AUTO_TEST_CASE(the_pixel_decoder_matches_naive_convolutions) {
  auto cfg = tiny_config(1, 1);
  auto w = weights::open("random:21", pixel_decoder::specs(cfg));
  pixel_decoder decoder(w, cfg);
  const auto latent =
      random_floats(cfg.latent_size * cfg.latent_size * cfg.latent_channels, 22, 2.f);
  std::vector<float> pixels(cfg.frame_pixels() * 3);
  decoder.decode(host_device(), latent.data(), pixels.data());

  auto conv = [&](const std::vector<float>& x, std::int64_t side, const std::string& name,
                  std::int64_t in, std::int64_t out) {
    return naive_conv(x, side, side, in, values_of(w.get(name + ".weight")),
                      values_of(w.get(name + ".bias")), out);
  };
  auto apply_silu = [](std::vector<float>& x) {
    for (auto& v : x) v = float(silu(v));
  };
  std::int64_t side = cfg.latent_size;
  auto y = conv(latent, side, "vae.conv_in", cfg.latent_channels, cfg.vae_channels);
  apply_silu(y);
  for (int i = 0; i < 2; ++i) {
    std::vector<float> up(4 * y.size());
    for (std::int64_t py = 0; py < 2 * side; ++py)
      for (std::int64_t px = 0; px < 2 * side; ++px)
        for (std::int64_t c = 0; c < cfg.vae_channels; ++c)
          up[(py * 2 * side + px) * cfg.vae_channels + c] =
              y[((py / 2) * side + px / 2) * cfg.vae_channels + c];
    side *= 2;
    y = conv(up, side, "vae.up." + std::to_string(i), cfg.vae_channels, cfg.vae_channels);
    apply_silu(y);
  }
  auto expected = conv(y, side, "vae.conv_out", cfg.vae_channels, 3);
  for (auto& v : expected) v = std::clamp((v + 1.0f) / 2.0f, 0.0f, 1.0f);
  BOOST_TEST(relative_rms(pixels, expected) < 1e-5);
}

// -- the stages -------------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(diffusion_decoder_makes_a_deterministic_image_per_packet) {
  driven_stage s("diffusion_decoder",
                 with(small_settings, {{"guidance", 2.0}, {"seed", std::int64_t{7}}}));
  const auto cond = random_floats(5 * 8, 23);
  const packet first = s.run(cond_packet(cond, 5, 8, 0));
  const tensor& image = first.at("image");
  BOOST_TEST((image.type() == dtype::f32));
  BOOST_TEST(image.shape() == (dims{16, 16, 3}), boost::test_tools::per_element());
  const auto pixels = values_of(image);
  BOOST_TEST(*std::min_element(pixels.begin(), pixels.end()) >= 0.0f);
  BOOST_TEST(*std::max_element(pixels.begin(), pixels.end()) <= 1.0f);
  BOOST_TEST(*std::max_element(pixels.begin(), pixels.end()) >
             *std::min_element(pixels.begin(), pixels.end()));
  BOOST_REQUIRE(first.meta("seed"));
  BOOST_TEST(*first.meta("seed") == "7");
  BOOST_REQUIRE(first.meta("prompt"));
  BOOST_TEST(first.sequence == 0u);

  // The same packet again, and in a fresh stage: the same picture. Another sequence: another.
  BOOST_TEST(values_of(s.run(cond_packet(cond, 5, 8, 0)).at("image")) == pixels);
  driven_stage again("diffusion_decoder",
                     with(small_settings, {{"guidance", 2.0}, {"seed", std::int64_t{7}}}));
  BOOST_TEST(values_of(again.run(cond_packet(cond, 5, 8, 0)).at("image")) == pixels);
  BOOST_TEST(relative_rms(values_of(s.run(cond_packet(cond, 5, 8, 1)).at("image")), pixels) > 1e-3);
}

BOOST_AUTO_TEST_CASE(the_stage_output_is_the_pixel_decoder_of_the_sampled_noise) {
  // Built from the parts by hand: noise for (seed, sequence), sampler, pixel decoder.
  const auto settings = with(
      small_settings, {{"guidance", 1.5}, {"seed", std::int64_t{3}}, {"patch", std::int64_t{2}}});
  driven_stage s("diffusion_decoder", settings);
  const auto cond = random_floats(2 * 8, 24);
  const auto image = values_of(s.run(cond_packet(cond, 2, 8, 9, "cond")).at("image"));

  const auto cfg = decoder_config::from_params(s.ctx.params());
  auto w = weights::open("random:4", all_specs(cfg));
  velocity_network net(w, cfg);
  pixel_decoder decoder(w, cfg);
  std::vector<float> z(cfg.latent_elements()), v(z.size()), pixels(cfg.frame_pixels() * 3);
  gaussian_noise(3, 9, z.data(), z.size());
  net.set_condition(host_device(), cond.data(), 2);
  sample_latent(host_device(), net, cfg.steps, 1.5, z.data(), v.data(), z.size());
  decoder.decode(host_device(), z.data(), pixels.data());
  BOOST_TEST(image == pixels);
}

BOOST_AUTO_TEST_CASE(video_decoder_makes_frames) {
  driven_stage s("video_decoder", with(small_settings, {{"frames", std::int64_t{3}},
                                                        {"patch", std::int64_t{2}},
                                                        {"dtype", std::string("bf16")}}));
  const packet out = s.run(cond_packet(random_floats(4 * 8, 25), 4, 8, 2));
  const tensor& frames = out.at("frames");
  BOOST_TEST(frames.shape() == (dims{3, 16, 16, 3}), boost::test_tools::per_element());
  const auto pixels = values_of(frames);
  BOOST_TEST(*std::min_element(pixels.begin(), pixels.end()) >= 0.0f);
  BOOST_TEST(*std::max_element(pixels.begin(), pixels.end()) <= 1.0f);
  // The frames are generated together but are not copies of each other.
  const std::size_t frame = 16 * 16 * 3;
  BOOST_TEST(!std::equal(pixels.begin(), pixels.begin() + frame, pixels.begin() + frame));

  const auto inferred = s.spec.infer(s.ctx.params(), {port_type{dtype::f32, 2}});
  BOOST_TEST(*inferred.at(0).rank == 4);
  BOOST_TEST(*inferred.at(0).shape == (dims{3, 16, 16, 3}), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(infer_and_estimate_follow_the_parameters) {
  auto registry = stage_registry::with_builtins();
  const auto& spec = *registry.find("diffusion_decoder");
  BOOST_TEST(!spec.param("frames"));
  const auto small = stage_params(spec, {});
  const auto inferred = spec.infer(small, {port_type{dtype::f32, 2}});
  BOOST_TEST(*inferred.at(0).shape == (dims{32, 32, 3}), boost::test_tools::per_element());

  const auto cost = spec.estimate(small, {port_type{dtype::f32, 2}});
  const auto cfg = decoder_config::from_params(small);
  BOOST_TEST(cost.flops == cfg.steps * cfg.velocity_flops() + cfg.pixel_decoder_flops());
  // One velocity evaluation: at least its matrix products, 2·tokens·(4d² + 3d·d_ff) per layer.
  BOOST_TEST(cfg.velocity_flops() > 2.0 * 64 * 2 * (4 * 64 * 64 + 3 * 64 * 128));
  BOOST_TEST(cost.resident_bytes > weights::open("random:0", all_specs(cfg)).bytes());

  // Guidance adds an unconditional pass to each step, and nothing to the pixel decoder.
  const auto guided = stage_params(spec, {{"guidance", 4.0}});
  BOOST_TEST(spec.estimate(guided, {port_type{dtype::f32, 2}}).flops - cost.flops ==
                 cfg.steps * cfg.velocity_flops(),
             boost::test_tools::tolerance(1e-12));
}

BOOST_AUTO_TEST_CASE(bad_sizes_and_inputs_are_refused_with_a_fix) {
  BOOST_TEST(
      open_error("diffusion_decoder", with(small_settings, {{"image_size", std::int64_t{24}}})) ==
      "diffusion_decoder 'dec': image_size = 24 is not latent_size = 4 times a power of "
      "two; set image_size to 4, 8, 16, …");
  BOOST_TEST(open_error("video_decoder", with(small_settings, {{"patch", std::int64_t{3}}})) ==
             "video_decoder 'dec': latent_size = 4 is not a multiple of patch = 3; choose a "
             "patch that divides the latent size");
  BOOST_TEST(open_error("diffusion_decoder", with(small_settings, {{"heads", std::int64_t{3}}})) ==
             "diffusion_decoder 'dec': d_model = 16 does not split into heads = 3 heads of an "
             "even size (RoPE rotates pairs); make d_model a multiple of 2·heads");

  driven_stage s("diffusion_decoder", small_settings);
  auto refusal = [&](packet_ptr p) {
    try {
      s.run(std::move(p));
    } catch (const std::invalid_argument& e) {
      return std::string(e.what());
    }
    return std::string("(accepted)");
  };
  BOOST_TEST(refusal(cond_packet(random_floats(3 * 6, 26), 3, 6, 0)) ==
             "diffusion_decoder 'dec': the condition is f32 [3, 6]; this decoder takes dense f32 "
             "[Tc, 8] with Tc ≥ 1 (set cond_dim to the encoder's d_model)");
  packet two;
  two.tensors.push_back({"a", tensor::zeros(dtype::f32, {1, 8})});
  two.tensors.push_back({"b", tensor::zeros(dtype::f32, {1, 8})});
  BOOST_TEST(
      refusal(std::make_shared<const packet>(std::move(two))) ==
      "diffusion_decoder 'dec': the input packet has 2 tensors and none is called "
      "\"cond\" or \"data\"; connect the output of an encoder or backbone ([tokens, 8] f32)");
  packet ints;
  ints.tensors.push_back({"data", tensor::zeros(dtype::i64, {2, 8})});
  BOOST_TEST(refusal(std::make_shared<const packet>(std::move(ints))) ==
             "diffusion_decoder 'dec': the condition is i64 [2, 8]; this decoder takes dense f32 "
             "[Tc, 8] with Tc ≥ 1 (set cond_dim to the encoder's d_model)");
}

// -- goldens from the PyTorch reference (tests/model/goldens/README.md) -----------------------

namespace {

void check_decoder_golden(const std::string& type, const std::string& dtype_name) {
  const auto g = test::read_model_golden(type + "_" + dtype_name);
  BOOST_REQUIRE(g.stage == type);
  const double tolerance = g.tolerance;
  const auto sequence = g.sequence;
  const auto& file = g.file;
  const auto cond = values_of(file.get("golden.input.cond"));
  const std::int64_t rows = file.get("golden.input.cond").shape()[0];

  auto registry = stage_registry::with_builtins();
  const auto& spec = *registry.find(type);
  const auto params = g.params(spec);
  const auto cfg = decoder_config::from_params(params);

  // Each part on its own: the initial noise, then the first guided velocity on it.
  std::vector<float> noise(cfg.latent_elements()), velocity(noise.size());
  gaussian_noise(cfg.seed, sequence, noise.data(), noise.size());
  const auto golden_noise = values_of(file.get("golden.output.noise"));
  BOOST_REQUIRE_EQUAL(golden_noise.size(), noise.size());
  BOOST_TEST(max_abs_difference(noise.data(), golden_noise.data(), noise.size()) == 0.0);

  auto w = weights::open(g.weights_path, velocity_network::specs(cfg));
  velocity_network net(w, cfg);
  net.set_condition(host_device(), cond.data(), rows);
  net.velocity(host_device(), golden_noise.data(), 1.0, cfg.guidance, velocity.data());
  const double velocity_error =
      relative_rms(velocity, values_of(file.get("golden.output.velocity")));
  BOOST_TEST_MESSAGE(type << " " << dtype_name << ": velocity relative RMS " << velocity_error);
  BOOST_TEST(velocity_error <= tolerance);

  // The whole stage.
  stage_context ctx("golden", spec, params);
  auto instance = spec.make();
  instance->open(ctx);
  packet in;
  in.sequence = sequence;
  tensor t = tensor::zeros(dtype::f32, {rows, cfg.cond_dim});
  std::memcpy(t.raw(), cond.data(), cond.size() * sizeof(float));
  in.tensors.push_back({"cond", std::move(t)});
  ctx.set_input(0, std::make_shared<const packet>(std::move(in)));
  instance->process(ctx);
  BOOST_REQUIRE_EQUAL(ctx.emitted().size(), 1u);
  const std::string output = type == "video_decoder" ? "frames" : "image";
  const tensor& found = ctx.emitted().front().second->at(output);
  const tensor& expected = file.get("golden.output." + output);
  BOOST_TEST(found.shape() == expected.shape(), boost::test_tools::per_element());
  const double error = relative_rms(values_of(found), values_of(expected));
  BOOST_TEST_MESSAGE(type << " " << dtype_name << ": " << output << " relative RMS " << error);
  BOOST_TEST(error <= tolerance);
}

}  // namespace

BOOST_AUTO_TEST_CASE(diffusion_decoder_matches_the_pytorch_golden_f32) {
  check_decoder_golden("diffusion_decoder", "f32");
}

BOOST_AUTO_TEST_CASE(diffusion_decoder_matches_the_pytorch_golden_bf16) {
  check_decoder_golden("diffusion_decoder", "bf16");
}

BOOST_AUTO_TEST_CASE(video_decoder_matches_the_pytorch_golden_f32) {
  check_decoder_golden("video_decoder", "f32");
}

BOOST_AUTO_TEST_CASE(video_decoder_matches_the_pytorch_golden_bf16) {
  check_decoder_golden("video_decoder", "bf16");
}
