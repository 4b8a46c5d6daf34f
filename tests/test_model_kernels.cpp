// The model kernels (stages/model/kernels) and layers (stages/model/layers) against naive
// reference loops written here from docs/model-architecture.md: double accumulation, std::exp,
// std::pow/cos/sin per element, one head and one token at a time. Layers run on the host cpu
// device's gemm, in f32 and in bf16 (the reference rounds each product's activation input to bf16
// as the contract says).
#include <boost/test/unit_test.hpp>

#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "devices/float_convert.hpp"
#include "stages/model/kernels/activations.hpp"
#include "stages/model/kernels/attention.hpp"
#include "stages/model/kernels/norms.hpp"
#include "stages/model/kernels/patchify.hpp"
#include "stages/model/kernels/rope.hpp"
#include "stages/model/kernels/softmax.hpp"
#include "stages/model/layers/adaln_block.hpp"
#include "stages/model/layers/encoder_trunk.hpp"
#include "stages/model/layers/linear.hpp"
#include "stages/model/layers/transformer_block.hpp"
#include "stages/model/weights.hpp"

using namespace loom;

namespace {

using matrix = std::vector<float>;

matrix random_values(std::size_t n, unsigned seed, float scale = 1.0f) {
  std::mt19937 generator(seed);
  std::uniform_real_distribution<float> value(-scale, scale);
  matrix out(n);
  for (auto& x : out) x = value(generator);
  return out;
}

// Largest |a − b| / (1 + |b|) over the elements: relative for large values, absolute near 0.
double max_error(const float* a, const float* b, std::size_t n) {
  double worst = 0;
  for (std::size_t i = 0; i < n; ++i)
    worst = std::max(worst, std::abs(double(a[i]) - double(b[i])) / (1.0 + std::abs(double(b[i]))));
  return worst;
}
double max_error(const matrix& a, const matrix& b) {
  BOOST_REQUIRE_EQUAL(a.size(), b.size());
  return max_error(a.data(), b.data(), a.size());
}

float round_bf16(float x) { return f32_from_bf16(bf16_from_f32(x)); }

// The elements of a weight tensor as f32, read here rather than through the layers' own code.
matrix values_of(const tensor& t) {
  matrix out(static_cast<std::size_t>(t.numel()));
  for (std::size_t i = 0; i < out.size(); ++i) {
    if (t.type() == dtype::f32) {
      out[i] = t.data<const float>()[i];
    } else {
      BOOST_REQUIRE(t.type() == dtype::bf16);
      out[i] = f32_from_bf16(t.data<const std::uint16_t>()[i]);
    }
  }
  return out;
}

// --- naive references ---

// x [m, k] · w [k, n]; with `bf16`, x rounded to bf16 first (w holds bf16 values already).
matrix ref_matmul(const matrix& x, const matrix& w, std::size_t m, std::size_t k, std::size_t n,
                  bool bf16) {
  matrix out(m * n);
  for (std::size_t i = 0; i < m; ++i)
    for (std::size_t j = 0; j < n; ++j) {
      double sum = 0;
      for (std::size_t p = 0; p < k; ++p) {
        const float a = bf16 ? round_bf16(x[i * k + p]) : x[i * k + p];
        sum += double(a) * double(w[p * n + j]);
      }
      out[i * n + j] = static_cast<float>(sum);
    }
  return out;
}

matrix ref_rms_norm(const matrix& x, const matrix& w, std::size_t rows, std::size_t dim) {
  matrix out(x.size());
  for (std::size_t r = 0; r < rows; ++r) {
    double squares = 0;
    for (std::size_t i = 0; i < dim; ++i) squares += double(x[r * dim + i]) * x[r * dim + i];
    const double inverse = 1.0 / std::sqrt(squares / double(dim) + 1e-6);
    for (std::size_t i = 0; i < dim; ++i) out[r * dim + i] = float(x[r * dim + i] * inverse * w[i]);
  }
  return out;
}

matrix ref_layer_norm(const matrix& x, std::size_t rows, std::size_t dim) {
  matrix out(x.size());
  for (std::size_t r = 0; r < rows; ++r) {
    double mean = 0, var = 0;
    for (std::size_t i = 0; i < dim; ++i) mean += x[r * dim + i];
    mean /= double(dim);
    for (std::size_t i = 0; i < dim; ++i) var += (x[r * dim + i] - mean) * (x[r * dim + i] - mean);
    var /= double(dim);
    for (std::size_t i = 0; i < dim; ++i)
      out[r * dim + i] = float((x[r * dim + i] - mean) / std::sqrt(var + 1e-6));
  }
  return out;
}

double ref_silu(double x) { return x / (1.0 + std::exp(-x)); }

// Rotate-half RoPE on [tokens, heads·hd] from the formula, angles in double.
void ref_rope(matrix& x, std::size_t tokens, std::size_t heads, std::size_t hd, std::size_t ld) {
  for (std::size_t p = 0; p < tokens; ++p)
    for (std::size_t h = 0; h < heads; ++h)
      for (std::size_t j = 0; j < hd / 2; ++j) {
        const double angle = double(p) * std::pow(10000.0, -2.0 * double(j) / double(hd));
        float& a = x[p * ld + h * hd + j];
        float& b = x[p * ld + h * hd + j + hd / 2];
        const double a0 = a, b0 = b;
        a = float(a0 * std::cos(angle) - b0 * std::sin(angle));
        b = float(b0 * std::cos(angle) + a0 * std::sin(angle));
      }
}

// softmax(q·kᵀ/sqrt(hd))·v per head, one query at a time.
matrix ref_attention(const matrix& q, const matrix& k, const matrix& v, std::size_t tokens,
                     std::size_t heads, std::size_t hd) {
  const std::size_t d = heads * hd;
  matrix out(tokens * d);
  std::vector<double> p(tokens);
  for (std::size_t h = 0; h < heads; ++h)
    for (std::size_t i = 0; i < tokens; ++i) {
      double top = -1e300, total = 0;
      for (std::size_t j = 0; j < tokens; ++j) {
        double s = 0;
        for (std::size_t c = 0; c < hd; ++c) s += double(q[i * d + h * hd + c]) * k[j * d + h * hd + c];
        p[j] = s / std::sqrt(double(hd));
        top = std::max(top, p[j]);
      }
      for (std::size_t j = 0; j < tokens; ++j) total += p[j] = std::exp(p[j] - top);
      for (std::size_t c = 0; c < hd; ++c) {
        double s = 0;
        for (std::size_t j = 0; j < tokens; ++j) s += p[j] / total * v[j * d + h * hd + c];
        out[i * d + h * hd + c] = float(s);
      }
    }
  return out;
}

// The tensors of one block, widened, and the block computed from the formulas.
struct ref_block {
  std::size_t d, heads, ff;
  bool bf16;
  matrix q, k, v, o, gate, up, down;

  ref_block(const weights& w, const std::string& prefix, std::size_t d_, std::size_t heads_,
            std::size_t ff_, bool bf16_)
      : d(d_), heads(heads_), ff(ff_), bf16(bf16_),
        q(values_of(w.get(prefix + ".attn.q.weight"))),
        k(values_of(w.get(prefix + ".attn.k.weight"))),
        v(values_of(w.get(prefix + ".attn.v.weight"))),
        o(values_of(w.get(prefix + ".attn.o.weight"))),
        gate(values_of(w.get(prefix + ".mlp.gate.weight"))),
        up(values_of(w.get(prefix + ".mlp.up.weight"))),
        down(values_of(w.get(prefix + ".mlp.down.weight"))) {}

  matrix attn(const matrix& h, std::size_t tokens) const {
    matrix qs = ref_matmul(h, q, tokens, d, d, bf16), ks = ref_matmul(h, k, tokens, d, d, bf16);
    const matrix vs = ref_matmul(h, v, tokens, d, d, bf16);
    ref_rope(qs, tokens, heads, d / heads, d);
    ref_rope(ks, tokens, heads, d / heads, d);
    return ref_matmul(ref_attention(qs, ks, vs, tokens, heads, d / heads), o, tokens, d, d, bf16);
  }

  matrix mlp(const matrix& h, std::size_t tokens) const {
    const matrix g = ref_matmul(h, gate, tokens, d, ff, bf16), u = ref_matmul(h, up, tokens, d, ff, bf16);
    matrix hidden(tokens * ff);
    for (std::size_t i = 0; i < hidden.size(); ++i) hidden[i] = float(ref_silu(g[i]) * u[i]);
    return ref_matmul(hidden, down, tokens, ff, d, bf16);
  }
};

// Pre-norm block: x + attn(rms_norm(x)), then + mlp(rms_norm(x)).
matrix ref_transformer_block(const weights& w, const std::string& prefix, matrix x,
                             std::size_t tokens, std::size_t d, std::size_t heads, std::size_t ff,
                             bool bf16) {
  const ref_block block(w, prefix, d, heads, ff, bf16);
  const matrix attn_norm = values_of(w.get(prefix + ".attn_norm.weight"));
  const matrix mlp_norm = values_of(w.get(prefix + ".mlp_norm.weight"));
  const matrix a = block.attn(ref_rms_norm(x, attn_norm, tokens, d), tokens);
  for (std::size_t i = 0; i < x.size(); ++i) x[i] += a[i];
  const matrix m = block.mlp(ref_rms_norm(x, mlp_norm, tokens, d), tokens);
  for (std::size_t i = 0; i < x.size(); ++i) x[i] += m[i];
  return x;
}

device& cpu() { return host_device(); }

}  // namespace

BOOST_AUTO_TEST_SUITE(model_kernels)

BOOST_AUTO_TEST_CASE(rms_norm_matches_the_formula_in_place_too) {
  const std::size_t rows = 5, dim = 37;  // a tail after the eight-lane sums
  const matrix x = random_values(rows * dim, 1, 3.0f), w = random_values(dim, 2);
  const matrix want = ref_rms_norm(x, w, rows, dim);
  matrix y(x.size());
  kernels::rms_norm(x.data(), w.data(), y.data(), rows, dim);
  BOOST_TEST(max_error(y, want) < 1e-6);
  matrix in_place = x;
  kernels::rms_norm(in_place.data(), w.data(), in_place.data(), rows, dim);
  BOOST_TEST(max_error(in_place, want) < 1e-6);
}

BOOST_AUTO_TEST_CASE(layer_norm_and_its_modulated_form_match_the_formula) {
  const std::size_t rows = 4, dim = 70;
  matrix x = random_values(rows * dim, 3, 2.0f);
  for (auto& v : x) v += 5.0f;  // a mean far from 0: the variance must not cancel
  const matrix want = ref_layer_norm(x, rows, dim);
  matrix y(x.size());
  kernels::layer_norm(x.data(), y.data(), rows, dim);
  BOOST_TEST(max_error(y, want) < 1e-5);

  const matrix shift = random_values(dim, 4), scale = random_values(dim, 5);
  matrix modulated = x;
  kernels::modulated_layer_norm(modulated.data(), shift.data(), scale.data(), modulated.data(),
                                rows, dim);
  matrix expected(x.size());
  for (std::size_t r = 0; r < rows; ++r)
    for (std::size_t i = 0; i < dim; ++i)
      expected[r * dim + i] = want[r * dim + i] * (1.0f + scale[i]) + shift[i];
  BOOST_TEST(max_error(modulated, expected) < 1e-5);
}

BOOST_AUTO_TEST_CASE(activations_match_the_formulas) {
  matrix x = random_values(1001, 6, 12.0f);
  x[0] = -100.0f;  // saturated: silu → −0, not NaN
  x[1] = 100.0f;
  matrix s = x, g = x;
  kernels::silu(s.data(), static_cast<std::int64_t>(s.size()));
  kernels::gelu(g.data(), static_cast<std::int64_t>(g.size()));
  matrix want_s(x.size()), want_g(x.size());
  for (std::size_t i = 0; i < x.size(); ++i) {
    want_s[i] = float(ref_silu(x[i]));
    want_g[i] = float(0.5 * x[i] * (1.0 + std::erf(x[i] / std::sqrt(2.0))));
  }
  BOOST_TEST(max_error(s, want_s) < 1e-6);
  BOOST_TEST(max_error(g, want_g) < 1e-6);
  BOOST_TEST(std::abs(s[0]) < 1e-30);
  BOOST_TEST(s[1] == 100.0f);

  const matrix up = random_values(x.size(), 7);
  matrix out = x;
  kernels::swiglu(out.data(), up.data(), out.data(), static_cast<std::int64_t>(out.size()));
  matrix want(x.size());
  for (std::size_t i = 0; i < x.size(); ++i) want[i] = float(ref_silu(x[i]) * up[i]);
  BOOST_TEST(max_error(out, want) < 1e-6);
}

BOOST_AUTO_TEST_CASE(softmax_is_stable_and_leaves_the_padding) {
  const std::size_t rows = 3, cols = 19, ld = 24;
  matrix x = random_values(rows * ld, 8, 10.0f);
  for (std::size_t c = 0; c < cols; ++c) x[2 * ld + c] += 1000.0f;  // exp would overflow
  const matrix before = x;
  kernels::softmax_rows(x.data(), rows, cols, ld);
  for (std::size_t r = 0; r < rows; ++r) {
    double top = -1e300, total = 0;
    for (std::size_t c = 0; c < cols; ++c) top = std::max(top, double(before[r * ld + c]));
    for (std::size_t c = 0; c < cols; ++c) total += std::exp(before[r * ld + c] - top);
    for (std::size_t c = 0; c < cols; ++c)
      BOOST_TEST(std::abs(x[r * ld + c] - std::exp(before[r * ld + c] - top) / total) < 1e-6);
    for (std::size_t c = cols; c < ld; ++c) BOOST_TEST(x[r * ld + c] == before[r * ld + c]);
  }
}

BOOST_AUTO_TEST_CASE(unscaled_softmax_leaves_the_sum_to_the_caller) {
  const std::size_t rows = 4, cols = 45, ld = 48;
  matrix x = random_values(rows * ld, 8, 10.0f);
  for (std::size_t c = 0; c < cols; ++c) x[3 * ld + c] -= 1000.0f;  // exp would underflow
  const matrix before = x;
  std::vector<float> inverse_sums(rows);
  kernels::softmax_rows_unscaled(x.data(), rows, cols, ld, inverse_sums.data());
  for (std::size_t r = 0; r < rows; ++r) {
    double top = -1e300, total = 0;
    for (std::size_t c = 0; c < cols; ++c) top = std::max(top, double(before[r * ld + c]));
    for (std::size_t c = 0; c < cols; ++c) {
      const double e = std::exp(before[r * ld + c] - top);
      total += e;
      BOOST_TEST(std::abs(x[r * ld + c] - e) < 1e-6 * std::max(1.0, e));
    }
    BOOST_TEST(std::abs(inverse_sums[r] * total - 1.0) < 1e-6);
    for (std::size_t c = cols; c < ld; ++c) BOOST_TEST(x[r * ld + c] == before[r * ld + c]);
  }
}

BOOST_AUTO_TEST_CASE(rope_rotates_each_head_by_its_position) {
  const std::size_t tokens = 40, heads = 3, hd = 16, ld = heads * hd + 5;
  matrix x = random_values(tokens * ld, 9);
  matrix want = x;
  ref_rope(want, tokens, heads, hd, ld);
  kernels::rope_table table(8, hd);
  BOOST_CHECK_THROW(table.apply(x.data(), tokens, heads, ld), std::out_of_range);
  table.reserve(tokens);
  BOOST_TEST(table.tokens_max() == 40);
  table.apply(x.data(), tokens, heads, ld);
  BOOST_TEST(max_error(x, want) < 1e-5);
  BOOST_CHECK_THROW(kernels::rope_table(4, 7), std::invalid_argument);
}

BOOST_AUTO_TEST_CASE(attention_matches_per_head_loops_with_strides) {
  const std::size_t tokens = 13, heads = 4, hd = 8, d = heads * hd, ld = 3 * d;
  const matrix qkv = random_values(tokens * ld, 10, 2.0f);
  matrix q(tokens * d), k(tokens * d), v(tokens * d);
  for (std::size_t t = 0; t < tokens; ++t)
    for (std::size_t c = 0; c < d; ++c) {
      q[t * d + c] = qkv[t * ld + c];
      k[t * d + c] = qkv[t * ld + d + c];
      v[t * d + c] = qkv[t * ld + 2 * d + c];
    }
  const matrix want = ref_attention(q, k, v, tokens, heads, hd);
  const std::size_t ldo = d + 3;
  matrix out(tokens * ldo, 7.0f);
  matrix scratch(static_cast<std::size_t>(kernels::attention_scratch_floats(tokens, heads, hd)));
  kernels::attention(cpu(), qkv.data(), ld, qkv.data() + d, ld, qkv.data() + 2 * d, ld, out.data(),
                     ldo, tokens, heads, hd, scratch.data());
  for (std::size_t t = 0; t < tokens; ++t) {
    BOOST_TEST(max_error(out.data() + t * ldo, want.data() + t * d, d) < 1e-5);
    for (std::size_t c = d; c < ldo; ++c) BOOST_TEST(out[t * ldo + c] == 7.0f);
  }
}

BOOST_AUTO_TEST_CASE(patchify_orders_tubelets_and_unpatchify_inverts_it) {
  kernels::patch_layout l;
  l.frames = 4, l.height = 6, l.width = 9, l.channels = 2, l.patch = 3, l.tubelet = 2;
  l.check();
  BOOST_TEST(l.tokens() == 2 * 2 * 3);
  BOOST_TEST(l.token_size() == 2 * 3 * 3 * 2);
  matrix video(static_cast<std::size_t>(l.elements()));
  for (std::size_t i = 0; i < video.size(); ++i) video[i] = float(i);
  matrix tokens(static_cast<std::size_t>(l.tokens() * l.token_size()));
  kernels::patchify(video.data(), tokens.data(), l);
  // token (ft, pr, pc), element (t, py, px, c) ← pixel (ft·2 + t, pr·3 + py, pc·3 + px, c)
  std::size_t token = 0;
  bool all_match = true;
  for (std::int64_t ft = 0; ft < 2; ++ft)
    for (std::int64_t pr = 0; pr < 2; ++pr)
      for (std::int64_t pc = 0; pc < 3; ++pc, ++token) {
        std::size_t e = 0;
        for (std::int64_t t = 0; t < 2; ++t)
          for (std::int64_t py = 0; py < 3; ++py)
            for (std::int64_t px = 0; px < 3; ++px)
              for (std::int64_t c = 0; c < 2; ++c, ++e) {
                const auto pixel = (((ft * 2 + t) * 6 + pr * 3 + py) * 9 + pc * 3 + px) * 2 + c;
                all_match = all_match && tokens[token * 36 + e] == float(pixel);
              }
      }
  BOOST_TEST(all_match);
  matrix back(video.size(), -1.0f);
  kernels::unpatchify(tokens.data(), back.data(), l);
  BOOST_TEST(back == video, boost::test_tools::per_element());

  l.width = 10;
  BOOST_CHECK_THROW(l.check(), std::invalid_argument);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(model_layers)

BOOST_AUTO_TEST_CASE(linear_f32_and_bf16_match_the_product_with_strides_bias_and_accumulation) {
  const std::size_t rows = 9, in = 40, out = 24, ldx = 45, ldy = 30;
  for (dtype type : {dtype::f32, dtype::bf16}) {
    BOOST_TEST_CONTEXT(name_of(type)) {
      const auto specs = linear::specs("proj", in, out, true, type);
      BOOST_REQUIRE_EQUAL(specs.size(), 2u);
      BOOST_TEST(specs[0].name == "proj.weight");
      BOOST_TEST(specs[1].name == "proj.bias");
      BOOST_TEST(specs[1].fan_in == 40);
      const auto w = weights::open("random:11", specs);
      linear layer(w, "proj");
      BOOST_TEST(layer.in() == 40);
      BOOST_TEST(layer.out() == 24);
      BOOST_TEST(layer.has_bias());

      const matrix x = random_values(rows * ldx, 12);
      matrix dense(rows * in);
      for (std::size_t r = 0; r < rows; ++r)
        std::memcpy(&dense[r * in], &x[r * ldx], in * sizeof(float));
      const bool bf16 = type == dtype::bf16;
      matrix want = ref_matmul(dense, values_of(w.get("proj.weight")), rows, in, out, bf16);
      const matrix bias = values_of(w.get("proj.bias"));
      for (std::size_t r = 0; r < rows; ++r)
        for (std::size_t c = 0; c < out; ++c) want[r * out + c] += bias[c];

      matrix y(rows * ldy, 0.5f);
      layer.forward(cpu(), x.data(), rows, ldx, y.data(), ldy);
      for (std::size_t r = 0; r < rows; ++r) {
        BOOST_TEST(max_error(&y[r * ldy], &want[r * out], out) < 1e-5);
        BOOST_TEST(y[r * ldy + out] == 0.5f);  // past the row: untouched
      }
      layer.forward(cpu(), x.data(), rows, ldx, y.data(), ldy, true);
      for (std::size_t r = 0; r < rows; ++r)
        for (std::size_t c = 0; c < out; ++c)
          BOOST_TEST(std::abs(y[r * ldy + c] - 2 * want[r * out + c]) < 1e-5);
    }
  }
}

BOOST_AUTO_TEST_CASE(fused_linears_equal_the_parts_side_by_side) {
  auto specs = linear::specs("a", 16, 8, true, dtype::f32);
  auto b = linear::specs("b", 16, 12, false, dtype::f32);
  specs.insert(specs.end(), b.begin(), b.end());
  const auto w = weights::open("random:13", specs);
  linear fused(w, std::vector<std::string>{"a", "b"}), first(w, "a"), second(w, "b");
  BOOST_TEST(fused.out() == 20);
  const matrix x = random_values(5 * 16, 14);
  matrix together(5 * 20), left(5 * 8), right(5 * 12);
  fused.forward(cpu(), x.data(), 5, 16, together.data(), 20);
  first.forward(cpu(), x.data(), 5, 16, left.data(), 8);
  second.forward(cpu(), x.data(), 5, 16, right.data(), 12);
  for (std::size_t r = 0; r < 5; ++r) {
    BOOST_TEST(max_error(&together[r * 20], &left[r * 8], 8) < 1e-6);
    BOOST_TEST(max_error(&together[r * 20 + 8], &right[r * 12], 12) < 1e-6);
  }
  auto mismatched = linear::specs("c", 10, 4, false, dtype::f32);
  mismatched.insert(mismatched.end(), specs.begin(), specs.end());
  const auto w2 = weights::open("random:1", mismatched);
  BOOST_CHECK_THROW((linear(w2, std::vector<std::string>{"a", "c"})), std::invalid_argument);
}

BOOST_AUTO_TEST_CASE(transformer_block_matches_the_formulas_in_f32_and_bf16) {
  const std::size_t tokens = 11, d = 32, heads = 4, ff = 48;
  for (dtype type : {dtype::f32, dtype::bf16}) {
    BOOST_TEST_CONTEXT(name_of(type)) {
      const auto w = weights::open("random:21", transformer_block::specs("blocks.3", d, heads, ff, type));
      transformer_block block(w, "blocks.3", heads);
      const matrix x = random_values(tokens * d, 22, 2.0f);
      const matrix want = ref_transformer_block(w, "blocks.3", x, tokens, d, heads, ff,
                                                type == dtype::bf16);
      matrix y = x;
      block.forward(cpu(), y.data(), tokens);
      BOOST_TEST(max_error(y, want) < (type == dtype::bf16 ? 2e-3 : 1e-5));
      // Scratch sized for 11 tokens serves a shorter input too, and a longer one grows it.
      for (std::size_t n : {std::size_t{4}, std::size_t{300}}) {
        const matrix xs = random_values(n * d, 23);
        matrix ys = xs;
        block.forward(cpu(), ys.data(), n);
        BOOST_TEST(max_error(ys, ref_transformer_block(w, "blocks.3", xs, n, d, heads, ff,
                                                       type == dtype::bf16)) <
                   (type == dtype::bf16 ? 2e-3 : 1e-5));
      }
    }
  }
  BOOST_CHECK_THROW(transformer_block::specs("b", 30, 4, 8, dtype::f32), std::invalid_argument);
  BOOST_CHECK_THROW(transformer_block::specs("b", 36, 4, 8, dtype::f32), std::invalid_argument);
}

BOOST_AUTO_TEST_CASE(adaln_block_matches_the_formulas) {
  const std::size_t tokens = 9, d = 16, heads = 2, ff = 24;
  const auto specs = adaln_block::specs("blocks.0", d, heads, ff, dtype::f32);
  for (const auto& s : specs) BOOST_TEST(s.name.find("norm") == std::string::npos);
  const auto w = weights::open("random:31", specs);
  adaln_block block(w, "blocks.0", heads);
  const matrix x = random_values(tokens * d, 32, 2.0f), c = random_values(d, 33, 2.0f);

  // (shift1, scale1, gate1, shift2, scale2, gate2) = silu(c)·ada.weight + ada.bias
  matrix silu_c(d);
  for (std::size_t i = 0; i < d; ++i) silu_c[i] = float(ref_silu(c[i]));
  matrix mod = ref_matmul(silu_c, values_of(w.get("blocks.0.ada.weight")), 1, d, 6 * d, false);
  const matrix ada_bias = values_of(w.get("blocks.0.ada.bias"));
  for (std::size_t i = 0; i < 6 * d; ++i) mod[i] += ada_bias[i];
  auto modulate = [&](const matrix& in, std::size_t chunk) {
    matrix h = ref_layer_norm(in, tokens, d);
    for (std::size_t t = 0; t < tokens; ++t)
      for (std::size_t i = 0; i < d; ++i)
        h[t * d + i] = h[t * d + i] * (1.0f + mod[(chunk + 1) * d + i]) + mod[chunk * d + i];
    return h;
  };
  const ref_block ref(w, "blocks.0", d, heads, ff, false);
  matrix want = x;
  const matrix a = ref.attn(modulate(want, 0), tokens);
  for (std::size_t t = 0; t < tokens; ++t)
    for (std::size_t i = 0; i < d; ++i) want[t * d + i] += mod[2 * d + i] * a[t * d + i];
  const matrix m = ref.mlp(modulate(want, 3), tokens);
  for (std::size_t t = 0; t < tokens; ++t)
    for (std::size_t i = 0; i < d; ++i) want[t * d + i] += mod[5 * d + i] * m[t * d + i];

  matrix y = x;
  block.forward(cpu(), y.data(), tokens, c.data());
  BOOST_TEST(max_error(y, want) < 1e-5);
}

BOOST_AUTO_TEST_CASE(encoder_trunk_is_the_blocks_then_the_norm) {
  const std::size_t tokens = 6, d = 16, heads = 2, ff = 32, layers = 3;
  const auto specs = encoder_trunk::specs(d, layers, heads, ff, dtype::f32);
  BOOST_TEST(specs.back().name == "norm.weight");
  const auto w = weights::open("random:41", specs);
  encoder_trunk trunk(w, layers, heads);
  const matrix x = random_values(tokens * d, 42);
  matrix want = x;
  for (std::size_t i = 0; i < layers; ++i)
    want = ref_transformer_block(w, "blocks." + std::to_string(i), want, tokens, d, heads, ff, false);
  want = ref_rms_norm(want, values_of(w.get("norm.weight")), tokens, d);
  matrix y = x, out(tokens * d);
  trunk.forward(cpu(), y.data(), tokens, out.data());
  BOOST_TEST(max_error(out, want) < 1e-5);
}

BOOST_AUTO_TEST_SUITE_END()
