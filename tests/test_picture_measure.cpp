// The picture measure (picture_measure.hpp), on pictures drawn here as tools/train/shapes.py
// draws them (its geometry and palette ported again, independently of the header's copy, with
// anti-aliased edges) on tinted, striped or checked backgrounds, then blurred, noisy and rounded
// to 8 bits like a decoded video frame: every colour × shape × size × place is named right and
// found where it was put, every clip's direction is named right, and a blank, a noise or a
// speckled picture is named nothing, so the trained-model test cannot count such output as right.
#include <algorithm>
#include <array>
#include <boost/test/unit_test.hpp>
#include <cmath>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "picture_measure.hpp"

namespace {

struct point {
  double x, y;
};

// shapes.py's COLOURS, PLACES and DIRECTIONS.
const std::map<std::string, std::array<double, 3>> colours{
    {"red", {0.86, 0.12, 0.12}},    {"green", {0.15, 0.70, 0.20}},  {"blue", {0.15, 0.25, 0.90}},
    {"yellow", {0.95, 0.85, 0.10}}, {"purple", {0.60, 0.20, 0.75}}, {"orange", {0.98, 0.55, 0.10}}};
const std::vector<std::string> shapes{"circle", "square", "triangle", "star"};
const std::map<std::string, double> sizes{{"small", 0.18}, {"large", 0.32}};
const std::map<std::string, point> places{{"on the left", {0.28, 0.5}},
                                          {"on the right", {0.72, 0.5}},
                                          {"at the top", {0.5, 0.28}},
                                          {"at the bottom", {0.5, 0.72}},
                                          {"in the centre", {0.5, 0.5}}};
const std::map<std::string, point> directions{
    {"to the right", {1, 0}}, {"to the left", {-1, 0}}, {"up", {0, -1}}, {"down", {0, 1}}};

using picture = std::vector<float>;  // [size, size, 3]

// shapes.py's shape_mask: the coverage of each pixel by a `kind` shape, from 4 × 4 samples.
std::vector<double> coverage(const std::string& kind, int size, point centre, double radius) {
  const int samples = 4, n = size * samples;
  std::vector<double> out(static_cast<std::size_t>(size) * size);
  for (int i = 0; i < n; ++i)
    for (int j = 0; j < n; ++j) {
      double x = (j + 0.5) / n - centre.x, y = (i + 0.5) / n - centre.y;
      bool inside = false;
      if (kind == "circle") {
        inside = x * x + y * y <= radius * radius;
      } else if (kind == "square") {
        inside = std::abs(x) <= radius * 0.85 && std::abs(y) <= radius * 0.85;
      } else if (kind == "triangle") {
        double top = -radius, base = radius * 0.75;
        inside = y <= base && y >= top + 2 * std::abs(x) * (base - top) / (2 * radius);
      } else {
        double angle = std::atan2(y, x) + std::acos(-1.0) / 2;
        double spikes = 0.5 + 0.5 * std::cos(5 * angle);
        inside = std::sqrt(x * x + y * y) <= radius * (0.45 + 0.55 * spikes * spikes);
      }
      out[(i / samples) * size + j / samples] += inside ? 1.0 / (samples * samples) : 0.0;
    }
  return out;
}

// A light tint, plain or with faint stripes or checks of a random period, as shapes.py's
// background; `texture` picks which, so that every test meets all three.
picture background(std::mt19937& rng, int size, int texture) {
  std::uniform_real_distribution<double> tint(0.80, 0.97);
  const double base[3] = {tint(rng), tint(rng), tint(rng)};
  const int period = std::uniform_int_distribution<int>(4, 8)(rng);
  picture out(static_cast<std::size_t>(size) * size * 3);
  for (int y = 0; y < size; ++y)
    for (int x = 0; x < size; ++x) {
      int pattern = texture == 0 ? 0 : texture == 1 ? (x / period) % 2 : (x / period + y / period) % 2;
      for (int c = 0; c < 3; ++c) out[(y * size + x) * 3 + c] = static_cast<float>(base[c] - 0.06 * pattern);
    }
  return out;
}

picture paint(picture p, int size, const std::string& kind, const std::string& colour, point centre,
              double radius) {
  const auto alpha = coverage(kind, size, centre, radius);
  for (std::size_t i = 0; i < alpha.size(); ++i)
    for (int c = 0; c < 3; ++c)
      p[i * 3 + c] = static_cast<float>(p[i * 3 + c] * (1 - alpha[i]) + colours.at(colour)[c] * alpha[i]);
  return p;
}

// What a video codec does to a frame, roughly: a [1 2 1]² blur, noise of σ 0.02, 8-bit pixels.
picture decoded(const picture& p, int size, std::mt19937& rng) {
  std::normal_distribution<double> noise(0, 0.02);
  auto at = [&](int x, int y, int c) {
    x = std::clamp(x, 0, size - 1), y = std::clamp(y, 0, size - 1);
    return p[(y * size + x) * 3 + c];
  };
  picture out(p.size());
  for (int y = 0; y < size; ++y)
    for (int x = 0; x < size; ++x)
      for (int c = 0; c < 3; ++c) {
        double sum = 0;
        for (int dy = -1; dy <= 1; ++dy)
          for (int dx = -1; dx <= 1; ++dx)
            sum += at(x + dx, y + dy, c) * (2 - std::abs(dx)) * (2 - std::abs(dy));
        double v = std::clamp(sum / 16 + noise(rng), 0.0, 1.0);
        out[(y * size + x) * 3 + c] = static_cast<float>(std::round(v * 255) / 255);
      }
  return out;
}

}  // namespace

BOOST_AUTO_TEST_CASE(every_colour_shape_size_and_place_is_named_right) {
  std::mt19937 rng(1);
  const int side = 64;  // the painter's image_size
  int drawn = 0;
  for (const auto& [colour, _] : colours)
    for (const auto& shape : shapes)
      for (const auto& [size, radius] : sizes)
        for (const auto& [place, centre] : places) {
          auto pixels = decoded(paint(background(rng, side, drawn % 3), side, shape, colour, centre, radius),
                                side, rng);
          ++drawn;
          auto m = loom::test::measure(pixels.data(), side, side);
          BOOST_TEST_CONTEXT("a " << size << " " << colour << " " << shape << " " << place) {
            BOOST_TEST(m.colour == colour);
            BOOST_TEST(m.shape == shape);
            BOOST_TEST(m.iou > m.runner_up_iou + 0.05);
            // shapes.py's own self-check allows 0.12: a large shape beside an edge is cut by it.
            BOOST_TEST(std::abs(m.x - centre.x) < 0.12);
            BOOST_TEST(std::abs(m.y - centre.y) < 0.12);
          }
        }
  BOOST_TEST(drawn == 6 * 4 * 2 * 5);
}

BOOST_AUTO_TEST_CASE(every_clip_is_named_by_its_colour_and_direction) {
  std::mt19937 rng(2);
  const int side = 32, frames = 8;  // the animator's image_size and frames
  int drawn = 0;
  for (const auto& [colour, _] : colours)
    for (const auto& shape : shapes)
      for (const auto& [direction, step] : directions) {
        const auto back = background(rng, side, drawn++ % 3);
        std::vector<float> clip;
        for (int f = 0; f < frames; ++f) {
          const double travelled = -0.3 + 0.6 * f / (frames - 1);
          const point centre{0.5 + travelled * step.x, 0.5 + travelled * step.y};
          auto frame = decoded(paint(back, side, shape, colour, centre, sizes.at("small")), side, rng);
          clip.insert(clip.end(), frame.begin(), frame.end());
        }
        BOOST_TEST_CONTEXT("a " << colour << " " << shape << " moving " << direction) {
          BOOST_TEST(loom::test::motion_direction(clip.data(), frames, side, side) == direction);
          for (int f = 0; f < frames; ++f)
            BOOST_TEST(loom::test::dominant_colour(clip.data() + f * side * side * 3, side, side) == colour);
        }
      }
}

BOOST_AUTO_TEST_CASE(a_blank_or_noise_picture_is_named_nothing) {
  std::mt19937 rng(3);
  const int side = 64;
  for (int texture = 0; texture < 3; ++texture) {
    auto blank = decoded(background(rng, side, texture), side, rng);
    auto m = loom::test::measure(blank.data(), side, side);
    BOOST_TEST(m.pixels == 0);
    BOOST_TEST(m.colour.empty());
    BOOST_TEST(m.shape.empty());
  }
  picture noise(side * side * 3);
  std::uniform_real_distribution<float> any(0, 1);
  for (auto& v : noise) v = any(rng);
  auto m = loom::test::measure(noise.data(), side, side);
  BOOST_TEST(m.colour.empty());
  BOOST_TEST(m.shape.empty());
  BOOST_TEST(loom::test::motion_direction(noise.data(), 1, side, side).empty());

  // A few red specks of a pixel or two on a plain background are no shape.
  auto specks = background(rng, side, 0);
  for (int i = 0; i < 6; ++i) {
    int x = 5 + 9 * i, y = 7 + 8 * i;
    for (int c = 0; c < 3; ++c)
      specks[(y * side + x) * 3 + c] = specks[(y * side + x + 1) * 3 + c] =
          static_cast<float>(colours.at("red")[c]);
  }
  BOOST_TEST(loom::test::measure(specks.data(), side, side).pixels == 0);
}

BOOST_AUTO_TEST_CASE(a_shape_in_no_palette_colour_has_a_shape_but_no_colour) {
  std::mt19937 rng(4);
  const int side = 64;
  auto pixels = background(rng, side, 0);
  const auto alpha = coverage("square", side, places.at("in the centre"), sizes.at("large"));
  for (std::size_t i = 0; i < alpha.size(); ++i)
    for (int c = 0; c < 3; ++c)
      pixels[i * 3 + c] = static_cast<float>(pixels[i * 3 + c] * (1 - alpha[i]) + 0.3 * alpha[i]);
  auto m = loom::test::measure(pixels.data(), side, side);
  BOOST_TEST(m.shape == "square");
  BOOST_TEST(m.colour.empty());
  BOOST_TEST(m.colour_distance > loom::test::max_colour_distance);
}

BOOST_AUTO_TEST_CASE(a_shape_that_does_not_move_has_no_direction) {
  std::mt19937 rng(5);
  const int side = 32;
  auto frame = decoded(paint(background(rng, side, 1), side, "circle", "blue", {0.5, 0.5}, 0.18), side, rng);
  std::vector<float> clip;
  for (int f = 0; f < 8; ++f) clip.insert(clip.end(), frame.begin(), frame.end());
  BOOST_TEST(loom::test::motion_direction(clip.data(), 8, side, side).empty());
  BOOST_TEST(loom::test::centre(frame.data(), side, side).first == 0.5, boost::test_tools::tolerance(0.02));
}
