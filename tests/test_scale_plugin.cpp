// The example plugin's `scale` stage (examples/plugin/scale.cpp), built in tree as
// tests/plugins/libloom_scale.so and driven by hand: f32 products, u8 rounding and saturation,
// strided input, a new buffer every time, other tensors passed on, refused types and factors.
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "stages/plugin_loader.hpp"

namespace loom {
namespace {

struct scale_fixture {
  scale_fixture() {
    load_plugin(std::string(LOOM_BINARY_DIR) + "/tests/plugins/libloom_scale.so", registry);
  }

  // Runs one packet through a fresh `scale` stage and returns what it emitted.
  packet_ptr run(double factor, packet in) {
    const auto& spec = *registry.find("scale");
    stage_context ctx("gain", spec, param_values({{"factor", factor}}));
    auto stage = spec.make();
    stage->open(ctx);
    ctx.set_input(0, std::make_shared<const packet>(std::move(in)));
    stage->process(ctx);
    BOOST_REQUIRE_EQUAL(ctx.emitted().size(), 1u);
    return ctx.emitted().front().second;
  }

  stage_registry registry;
};

template <class T>
tensor tensor_of(dtype type, shape_t shape, const std::vector<T>& values) {
  auto t = tensor::zeros(type, std::move(shape));
  std::copy(values.begin(), values.end(), t.data<T>());
  return t;
}

template <class T>
std::vector<T> values_of(const tensor& t) {
  return std::vector<T>(t.data<T>(), t.data<T>() + t.numel());
}

packet packet_of(tensor data) {
  packet p;
  p.sequence = 9;
  p.tensors.push_back({"data", std::move(data)});
  return p;
}

}  // namespace

BOOST_FIXTURE_TEST_SUITE(scale_stage, scale_fixture)

BOOST_AUTO_TEST_CASE(multiplies_f32_into_a_new_buffer) {
  auto data = tensor_of<float>(dtype::f32, {2, 2}, {1.0f, -2.0f, 0.5f, 4.0f});
  auto out = run(2.5, packet_of(data));
  const auto& scaled = out->at("data");
  BOOST_TEST(name_of(scaled.type()) == "f32");
  BOOST_TEST(scaled.shape() == (shape_t{2, 2}), boost::test_tools::per_element());
  BOOST_TEST(values_of<float>(scaled) == (std::vector<float>{2.5f, -5.0f, 1.25f, 10.0f}),
             boost::test_tools::per_element());
  BOOST_TEST(!scaled.memory().same_memory(data.memory()));
  BOOST_TEST(values_of<float>(data) == (std::vector<float>{1.0f, -2.0f, 0.5f, 4.0f}),
             boost::test_tools::per_element());
  BOOST_TEST(out->sequence == 9u);
}

BOOST_AUTO_TEST_CASE(rounds_and_saturates_u8) {
  auto data = tensor_of<std::uint8_t>(dtype::u8, {5}, {0, 1, 3, 100, 200});
  auto out = run(1.5, packet_of(data));
  // 1.5 rounds to even (2), 4.5 to 4; 300 saturates to 255.
  BOOST_TEST(values_of<std::uint8_t>(out->at("data")) ==
                 (std::vector<std::uint8_t>{0, 2, 4, 150, 255}),
             boost::test_tools::per_element());
  auto negative = run(-1.0, packet_of(data));
  BOOST_TEST(values_of<std::uint8_t>(negative->at("data")) ==
                 (std::vector<std::uint8_t>(5, 0)),
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(reads_strided_views) {
  // Column 1 of a 3x2 matrix: elements 2, 4, 6 with a stride of 2.
  auto matrix = tensor_of<float>(dtype::f32, {3, 2}, {1, 2, 3, 4, 5, 6});
  tensor column(dtype::f32, {3}, {2}, matrix.memory().share(sizeof(float), 5 * sizeof(float)));
  auto out = run(10.0, packet_of(column));
  BOOST_TEST(values_of<float>(out->at("data")) == (std::vector<float>{20, 40, 60}),
             boost::test_tools::per_element());
  BOOST_TEST(out->at("data").is_contiguous());
}

BOOST_AUTO_TEST_CASE(passes_other_tensors_on_without_copying) {
  auto in = packet_of(tensor_of<float>(dtype::f32, {1}, {1.0f}));
  auto mask = tensor::zeros(dtype::u8, {4});
  in.tensors.push_back({"mask", mask});
  in.metadata.push_back({"camera", "front"});
  auto out = run(3.0, std::move(in));
  BOOST_REQUIRE(out->find("mask") != nullptr);
  BOOST_TEST(out->at("mask").memory().same_memory(mask.memory()));
  BOOST_REQUIRE(out->meta("camera") != nullptr);
  BOOST_TEST(*out->meta("camera") == "front");
}

BOOST_AUTO_TEST_CASE(refuses_other_element_types) {
  BOOST_CHECK_EXCEPTION(run(2.0, packet_of(tensor::zeros(dtype::i32, {2}))),
                        std::invalid_argument, [](const std::invalid_argument& e) {
                          return std::string(e.what()) ==
                                 "scale: tensor \"data\" is i32; scale handles f32 and u8";
                        });
}

BOOST_AUTO_TEST_CASE(refuses_a_factor_that_is_not_finite) {
  BOOST_CHECK_THROW(run(std::numeric_limits<double>::quiet_NaN(),
                        packet_of(tensor::zeros(dtype::f32, {1}))),
                    std::invalid_argument);
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace loom
