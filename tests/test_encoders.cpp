// The text_encoder, image_encoder and video_encoder stages driven by hand with a stage_context:
// output shapes and metadata, determinism of "random:SEED" weights, the embeddings against
// lookups and patch extraction written here (the trunk itself is checked against naive loops in
// test_model_kernels), errors for inputs an encoder cannot take, and the PyTorch goldens in
// tests/model/goldens (`<stage>_<dtype>.safetensors` + `.json`, see the README there): relative
// RMS error within each file's tolerance, in f32 and bf16.
#include <boost/test/unit_test.hpp>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "stages/model/layers/encoder_trunk.hpp"
#include "stages/model/layers/linear.hpp"
#include "stages/model/safetensors.hpp"
#include "stages/model/weights.hpp"
#include "stages/registry.hpp"
#include "model_golden.hpp"

using namespace loom;

namespace {

const stage_registry& registry() {
  static const stage_registry r = stage_registry::with_builtins();
  return r;
}

const stage_spec& spec_of(const std::string& type) {
  const stage_spec* spec = registry().find(type);
  BOOST_REQUIRE_MESSAGE(spec, type << " is not registered");
  return *spec;
}

// The stage's parameters: defaults, then `settings`.
param_values params_of(const stage_spec& spec,
                       std::map<std::string, param_value, std::less<>> settings = {}) {
  std::map<std::string, param_value, std::less<>> values;
  for (const auto& p : spec.params)
    if (p.default_value) values[p.key] = *p.default_value;
  for (auto& [key, value] : settings) {
    BOOST_REQUIRE_MESSAGE(spec.param(key), spec.type << " has no parameter " << key);
    values[key] = value;
  }
  return param_values(std::move(values));
}

// An opened stage and its context, fed one packet at a time.
struct harness {
  const stage_spec& spec;
  stage_context ctx;
  std::unique_ptr<stage> instance;

  harness(const std::string& type, std::map<std::string, param_value, std::less<>> settings = {},
          const std::string& name = "enc")
      : spec(spec_of(type)), ctx(name, spec, params_of(spec, std::move(settings))),
        instance(spec.make()) {
    instance->open(ctx);
  }

  // The "data" tensor the stage emits for `input`.
  tensor run(packet input) {
    ctx.emitted().clear();
    ctx.set_input(0, std::make_shared<const packet>(std::move(input)));
    instance->process(ctx);
    BOOST_REQUIRE_EQUAL(ctx.emitted().size(), 1u);
    return ctx.emitted()[0].second->at("data");
  }
  const packet& last() { return *ctx.emitted().at(0).second; }
};

template <class T>
tensor host_tensor(dtype type, shape_t shape, const std::vector<T>& values) {
  tensor t = tensor::zeros(type, shape);
  BOOST_REQUIRE_EQUAL(t.nbytes(), values.size() * sizeof(T));
  std::memcpy(t.raw(), values.data(), t.nbytes());
  return t;
}

packet with(std::string name, tensor value, std::uint64_t sequence = 0) {
  packet p;
  p.sequence = sequence;
  p.metadata.emplace_back("source", "test");
  p.tensors.push_back({std::move(name), std::move(value)});
  return p;
}

packet token_packet(const std::vector<std::int64_t>& ids, std::uint64_t sequence = 0) {
  return with("tokens", host_tensor(dtype::i64, {std::int64_t(ids.size())}, ids), sequence);
}

std::vector<std::uint8_t> pattern_bytes(std::size_t n, unsigned salt) {
  std::vector<std::uint8_t> out(n);
  for (std::size_t i = 0; i < n; ++i) out[i] = static_cast<std::uint8_t>((i * 37 + salt * 11) % 256);
  return out;
}

std::vector<float> values(const tensor& t) {
  BOOST_REQUIRE((t.type() == dtype::f32));
  BOOST_REQUIRE(t.is_contiguous());
  const auto* p = t.data<const float>();
  return {p, p + t.numel()};
}

double max_abs_difference(const std::vector<float>& a, const std::vector<float>& b) {
  BOOST_REQUIRE_EQUAL(a.size(), b.size());
  double worst = 0;
  for (std::size_t i = 0; i < a.size(); ++i) worst = std::max(worst, double(std::abs(a[i] - b[i])));
  return worst;
}

// Runs `x` [tokens, d] through the trunk of weights opened like the stage's (defaults: d 64,
// 2 layers, 4 heads, d_ff 128).
std::vector<float> trunk_of(const std::string& seed, const std::vector<weight_spec>& embedding,
                            std::vector<float> x, std::int64_t tokens) {
  auto specs = embedding;
  auto trunk_specs = encoder_trunk::specs(64, 2, 4, 128, dtype::f32);
  specs.insert(specs.end(), trunk_specs.begin(), trunk_specs.end());
  const auto w = weights::open(seed, specs);
  encoder_trunk trunk(w, 2, 4);
  std::vector<float> out(x.size());
  trunk.forward(host_device(), x.data(), tokens, out.data());
  return out;
}

template <class F>
void check_error_mentions(F&& f, const std::vector<std::string>& parts) {
  try {
    f();
    BOOST_ERROR("no exception");
  } catch (const std::exception& e) {
    const std::string what = e.what();
    for (const auto& part : parts) BOOST_TEST(what.find(part) != std::string::npos, what);
  }
}

// Runs the golden `<stage>_<dtype>` and checks every golden.output.* against the stage's output.
void check_golden(const std::string& stem) {
  const auto g = test::read_model_golden(stem);
  harness stage(g.stage, g.params(spec_of(g.stage)).values(), "golden");
  const auto outputs = g.outputs();
  BOOST_REQUIRE(!outputs.empty());
  stage.run(g.input());
  for (const auto& [name, golden] : outputs) {
    const tensor& found = stage.last().at(name);
    BOOST_TEST_REQUIRE((found.shape() == golden->shape()));
    const double error = test::relative_rms_error(found, *golden);
    BOOST_TEST_MESSAGE(stem << " " << name << ": relative RMS error " << error << " (tolerance "
                            << g.tolerance << ")");
    BOOST_TEST(error <= g.tolerance, stem << " " << name << ": relative RMS error " << error
                                          << " above the tolerance " << g.tolerance);
  }
}

}  // namespace

BOOST_AUTO_TEST_SUITE(text_encoder)

BOOST_AUTO_TEST_CASE(encodes_tokens_into_rows_keeping_the_packet_identity) {
  harness enc("text_encoder");
  const std::vector<std::int64_t> ids{3, 17, 511, 0, 17};
  const tensor out = enc.run(token_packet(ids, 9));
  BOOST_TEST((out.type() == dtype::f32));
  BOOST_TEST((out.shape() == (shape_t{5, 64})));
  BOOST_TEST(enc.last().sequence == 9u);
  BOOST_TEST(*enc.last().meta("source") == "test");

  // The embedding rows of the ids, then the trunk.
  const auto table_spec = std::vector<weight_spec>{{"embed.weight", dtype::f32, {512, 64}}};
  const auto w = weights::open("random:0", table_spec);
  std::vector<float> x;
  for (auto id : ids) {
    const float* row = w.get("embed.weight").data<const float>() + id * 64;
    x.insert(x.end(), row, row + 64);
  }
  BOOST_TEST(max_abs_difference(values(out), trunk_of("random:0", table_spec, x, 5)) < 1e-5);

  // i32 ids give the same rows.
  const std::vector<std::int32_t> narrow(ids.begin(), ids.end());
  const tensor same = enc.run(with("tokens", host_tensor(dtype::i32, {5}, narrow)));
  BOOST_TEST(values(same) == values(out), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(random_weights_are_deterministic_per_seed) {
  const std::vector<std::int64_t> ids{1, 2, 3, 4};
  harness a("text_encoder", {{"weights", std::string("random:5")}});
  harness b("text_encoder", {{"weights", std::string("random:5")}});
  harness c("text_encoder", {{"weights", std::string("random:6")}});
  const auto first = values(a.run(token_packet(ids)));
  BOOST_TEST(values(a.run(token_packet(ids))) == first, boost::test_tools::per_element());
  BOOST_TEST(values(b.run(token_packet(ids))) == first, boost::test_tools::per_element());
  BOOST_TEST(max_abs_difference(values(c.run(token_packet(ids))), first) > 1e-3);
}

BOOST_AUTO_TEST_CASE(sizes_and_bf16_follow_the_parameters) {
  harness enc("text_encoder", {{"vocab", std::int64_t{100}},
                               {"d_model", std::int64_t{48}},
                               {"layers", std::int64_t{3}},
                               {"heads", std::int64_t{3}},
                               {"d_ff", std::int64_t{80}},
                               {"dtype", std::string("bf16")}});
  const tensor out = enc.run(token_packet({99, 0, 42}));
  BOOST_TEST((out.shape() == (shape_t{3, 48})));
  for (float v : values(out)) BOOST_TEST(std::isfinite(v));
}

BOOST_AUTO_TEST_CASE(rejects_what_it_cannot_encode) {
  harness enc("text_encoder", {}, "text");
  check_error_mentions([&] { enc.run(token_packet({1, 512})); },
                       {"text_encoder 'text'", "id 512", "vocabulary of 512"});
  check_error_mentions([&] { enc.run(token_packet({-1})); }, {"text_encoder 'text'", "id -1"});
  check_error_mentions([&] { enc.run(token_packet({})); }, {"text_encoder 'text'", "empty"});
  check_error_mentions([&] { enc.run(with("ids", host_tensor<std::int64_t>(dtype::i64, {1}, {1}))); },
                       {"text_encoder 'text'", "no \"tokens\""});
  check_error_mentions(
      [&] { enc.run(with("tokens", host_tensor<float>(dtype::f32, {2}, {1.0f, 2.0f}))); },
      {"text_encoder 'text'", "i64 or i32", "f32"});
  check_error_mentions([&] { harness bad("text_encoder", {{"heads", std::int64_t{5}}}, "text"); },
                       {"text_encoder 'text'", "d_model = 64", "heads = 5"});
  check_error_mentions([&] { harness bad("text_encoder", {{"heads", std::int64_t{64}}}, "text"); },
                       {"text_encoder 'text'", "even"});
}

BOOST_AUTO_TEST_CASE(declares_its_output_and_cost) {
  const auto& spec = spec_of("text_encoder");
  const auto p = params_of(spec);
  const auto known = spec.infer(p, {port_type{dtype::i64, 1, dims{7}}});
  BOOST_REQUIRE_EQUAL(known.size(), 1u);
  BOOST_TEST((*known[0].type == dtype::f32));
  BOOST_TEST((*known[0].shape == (dims{7, 64})));
  BOOST_TEST(!spec.infer(p, {port_type{dtype::i64, 1}})[0].shape);
  const auto cost = spec.estimate(p, {port_type{dtype::i64, 1, dims{7}}});
  // Two blocks of q, k, v, o and gate, up, down products on 7 tokens at least.
  BOOST_TEST(cost.flops >= 2 * 2.0 * 7 * (4 * 64 * 64 + 3 * 64 * 128));
  BOOST_TEST(cost.resident_bytes >= (512 * 64 + 2 * (4 * 64 * 64 + 3 * 64 * 128)) * 4u);
  BOOST_TEST(spec.device_kinds == std::vector<std::string>{"cpu"});
  BOOST_TEST(spec.doc.find("type = \"text_encoder\"") != std::string::npos);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(image_encoder)

BOOST_AUTO_TEST_CASE(patches_in_raster_order_through_the_trunk) {
  harness enc("image_encoder");
  const auto bytes = pattern_bytes(32 * 32 * 3, 1);
  const tensor out = enc.run(with("image", host_tensor(dtype::u8, {32, 32, 3}, bytes), 4));
  BOOST_TEST((out.shape() == (shape_t{16, 64})));
  BOOST_TEST(enc.last().sequence == 4u);

  // Patch (pr, pc) holds pixels (pr·8 + py, pc·8 + px, c) in (py, px, c) order, as 2·p − 1.
  std::vector<float> patches;
  for (int pr = 0; pr < 4; ++pr)
    for (int pc = 0; pc < 4; ++pc)
      for (int py = 0; py < 8; ++py)
        for (int px = 0; px < 8; ++px)
          for (int c = 0; c < 3; ++c)
            patches.push_back(2.0f * (bytes[((pr * 8 + py) * 32 + pc * 8 + px) * 3 + c] / 255.0f) - 1.0f);
  const auto embed_specs = linear::specs("patch_embed", 192, 64, true, dtype::f32);
  const auto w = weights::open("random:0", embed_specs);
  linear embed(w, "patch_embed");
  std::vector<float> x(16 * 64);
  embed.forward(host_device(), patches.data(), 16, 192, x.data(), 64);
  BOOST_TEST(max_abs_difference(values(out), trunk_of("random:0", embed_specs, x, 16)) < 1e-5);

  // The same pixels as f32 in [0, 1] encode the same.
  std::vector<float> unit(bytes.size());
  for (std::size_t i = 0; i < bytes.size(); ++i) unit[i] = bytes[i] / 255.0f;
  const tensor from_f32 = enc.run(with("image", host_tensor(dtype::f32, {32, 32, 3}, unit)));
  BOOST_TEST(max_abs_difference(values(from_f32), values(out)) < 1e-5);
}

BOOST_AUTO_TEST_CASE(rejects_images_of_another_size_or_kind) {
  harness enc("image_encoder", {}, "vision");
  check_error_mentions(
      [&] { enc.run(with("image", tensor::zeros(dtype::u8, {48, 64, 3}))); },
      {"image_encoder 'vision': the image is 64×48; this encoder takes 32×32",
       "image_source's width/height"});
  check_error_mentions([&] { enc.run(with("image", tensor::zeros(dtype::u8, {32, 32, 4}))); },
                       {"image_encoder 'vision'", "[H, W, 3]"});
  check_error_mentions([&] { enc.run(with("image", tensor::zeros(dtype::i32, {32, 32, 3}))); },
                       {"image_encoder 'vision'", "i32", "u8"});
  check_error_mentions([&] { enc.run(with("frames", tensor::zeros(dtype::u8, {1, 32, 32, 3}))); },
                       {"image_encoder 'vision'", "no \"image\""});
  check_error_mentions(
      [&] { harness bad("image_encoder", {{"patch", std::int64_t{5}}}, "vision"); },
      {"image_encoder 'vision'", "image_size = 32", "patch = 5"});
}

BOOST_AUTO_TEST_CASE(declares_its_output_shape) {
  const auto& spec = spec_of("image_encoder");
  const auto p = params_of(spec, {{"image_size", std::int64_t{64}}, {"patch", std::int64_t{16}}});
  BOOST_TEST((*spec.infer(p, {port_type{}})[0].shape == (dims{16, 64})));
  BOOST_TEST(spec.estimate(p, {port_type{}}).flops > 0);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(video_encoder)

BOOST_AUTO_TEST_CASE(tubelets_in_time_row_column_order) {
  harness enc("video_encoder");
  const auto bytes = pattern_bytes(4 * 32 * 32 * 3, 2);
  const tensor out = enc.run(with("frames", host_tensor(dtype::u8, {4, 32, 32, 3}, bytes)));
  BOOST_TEST((out.shape() == (shape_t{32, 64})));

  std::vector<float> tubelets;
  for (int ft = 0; ft < 2; ++ft)
    for (int pr = 0; pr < 4; ++pr)
      for (int pc = 0; pc < 4; ++pc)
        for (int t = 0; t < 2; ++t)
          for (int py = 0; py < 8; ++py)
            for (int px = 0; px < 8; ++px)
              for (int c = 0; c < 3; ++c)
                tubelets.push_back(
                    2.0f * (bytes[(((ft * 2 + t) * 32 + pr * 8 + py) * 32 + pc * 8 + px) * 3 + c] /
                            255.0f) - 1.0f);
  const auto embed_specs = linear::specs("tubelet_embed", 384, 64, true, dtype::f32);
  const auto w = weights::open("random:0", embed_specs);
  linear embed(w, "tubelet_embed");
  std::vector<float> x(32 * 64);
  embed.forward(host_device(), tubelets.data(), 32, 384, x.data(), 64);
  BOOST_TEST(max_abs_difference(values(out), trunk_of("random:0", embed_specs, x, 32)) < 1e-5);
}

BOOST_AUTO_TEST_CASE(rejects_clips_of_another_length_or_size) {
  harness enc("video_encoder", {}, "clips");
  check_error_mentions([&] { enc.run(with("frames", tensor::zeros(dtype::u8, {3, 32, 32, 3}))); },
                       {"video_encoder 'clips'", "3 frames", "takes 4", "clip = 4"});
  check_error_mentions([&] { enc.run(with("frames", tensor::zeros(dtype::f32, {4, 16, 32, 3}))); },
                       {"video_encoder 'clips'", "32×16", "32×32"});
  check_error_mentions([&] { enc.run(with("image", tensor::zeros(dtype::u8, {32, 32, 3}))); },
                       {"video_encoder 'clips'", "no \"frames\""});
  check_error_mentions(
      [&] { harness bad("video_encoder", {{"tubelet", std::int64_t{3}}}, "clips"); },
      {"video_encoder 'clips'", "frames = 4", "tubelet = 3"});
}

BOOST_AUTO_TEST_CASE(declares_its_output_shape) {
  const auto& spec = spec_of("video_encoder");
  const auto p = params_of(spec, {{"frames", std::int64_t{8}}, {"tubelet", std::int64_t{4}}});
  BOOST_TEST((*spec.infer(p, {port_type{}})[0].shape == (dims{2 * 16, 64})));
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(goldens)

BOOST_AUTO_TEST_CASE(text_encoder_f32) { check_golden("text_encoder_f32"); }
BOOST_AUTO_TEST_CASE(text_encoder_bf16) { check_golden("text_encoder_bf16"); }
BOOST_AUTO_TEST_CASE(image_encoder_f32) { check_golden("image_encoder_f32"); }
BOOST_AUTO_TEST_CASE(image_encoder_bf16) { check_golden("image_encoder_bf16"); }
BOOST_AUTO_TEST_CASE(video_encoder_f32) { check_golden("video_encoder_f32"); }
BOOST_AUTO_TEST_CASE(video_encoder_bf16) { check_golden("video_encoder_bf16"); }

BOOST_AUTO_TEST_SUITE_END()
