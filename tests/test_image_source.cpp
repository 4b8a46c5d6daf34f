// image_source through the runtime: PNG and JPEG files found by globs, in name order, with their
// pixel values; an undecodable file among them; a pattern that matches nothing.
#include <boost/test/unit_test.hpp>

#include <cstdlib>
#include <fstream>

#include <fmt/format.h>

#include "ingest_fixture.hpp"

using namespace loom;
using loom::test::ingest_fixture;

namespace {

std::string graph(const std::string& settings) {
  return "[stages.i]\ntype = \"image_source\"\n" + settings +
         "\n[stages.sink]\ntype = \"collect\"\ninputs.in = \"i.out\"\n";
}

void make_images(ingest_fixture& f) {
  f.ffmpeg("-f lavfi -i color=c=red:size=40x30 -frames:v 1 -pix_fmt rgb24", "a_red.png");
  f.ffmpeg("-f lavfi -i color=c=blue:size=40x30 -frames:v 1 -pix_fmt rgb24", "b_blue.png");
  f.ffmpeg("-f lavfi -i color=c=lime:size=48x32 -frames:v 1 -q:v 2", "c_green.jpg");
}

std::array<int, 3> pixel(const packet_ptr& p, int index) {
  const auto* px = p->at("image").data<std::uint8_t>();
  return {px[3 * index], px[3 * index + 1], px[3 * index + 2]};
}

bool near(std::array<int, 3> got, std::array<int, 3> want, int tolerance) {
  for (int c = 0; c < 3; ++c)
    if (std::abs(got[c] - want[c]) > tolerance) return false;
  return true;
}

}  // namespace

BOOST_FIXTURE_TEST_CASE(png_and_jpeg_files_from_globs_arrive_in_name_order, ingest_fixture) {
  make_images(*this);
  auto r = run(
      graph(fmt::format("path = '{}/*.png'\npaths = ['{}/*.jpg']", dir.string(), dir.string())));
  BOOST_TEST((r.result.status == run_result::outcome::completed));
  auto got = packets();
  BOOST_REQUIRE_EQUAL(got.size(), 3u);
  BOOST_TEST(*got[0]->meta("path") == path("a_red.png"));
  BOOST_TEST(*got[1]->meta("path") == path("b_blue.png"));
  BOOST_TEST(*got[2]->meta("path") == path("c_green.jpg"));
  for (std::size_t i = 0; i < 3; ++i) BOOST_TEST(got[i]->sequence == i);
  BOOST_TEST(to_string(got[0]->at("image").shape()) == to_string(shape_t{30, 40, 3}));
  BOOST_TEST(to_string(got[2]->at("image").shape()) == to_string(shape_t{32, 48, 3}));
  // PNG is lossless; lavfi's colour source goes through YUV first, hence the small tolerance.
  BOOST_TEST(near(pixel(got[0], 0), {255, 0, 0}, 2));
  BOOST_TEST(near(pixel(got[1], 599), {0, 0, 255}, 2));
  BOOST_TEST(near(pixel(got[2], 700), {0, 255, 0}, 8));
}

BOOST_FIXTURE_TEST_CASE(images_are_resized_and_normalised_to_f32, ingest_fixture) {
  make_images(*this);
  auto r = run(
      graph(fmt::format("path = '{}'\nwidth = 8\nheight = 4\ndtype = 'f32'", path("b_blue.png"))));
  auto got = packets();
  BOOST_REQUIRE_EQUAL(got.size(), 1u);
  const auto& image = got[0]->at("image");
  BOOST_TEST((image.type() == dtype::f32));
  BOOST_TEST(to_string(image.shape()) == to_string(shape_t{4, 8, 3}));
  BOOST_TEST(image.data<float>()[2] > 0.98f);
  BOOST_TEST(image.data<float>()[0] < 0.02f);
}

BOOST_FIXTURE_TEST_CASE(an_undecodable_file_is_one_error_and_the_others_flow, ingest_fixture) {
  make_images(*this);
  {
    std::ofstream out(path("b_broken.png"), std::ios::binary);
    out << "not a png at all";
  }
  auto r = run(graph(fmt::format("path = '{}/*.png'", dir.string())));
  BOOST_TEST((r.result.status == run_result::outcome::completed));
  auto got = packets();
  BOOST_REQUIRE_EQUAL(got.size(), 2u);
  BOOST_TEST(*got[0]->meta("path") == path("a_red.png"));
  BOOST_TEST(*got[1]->meta("path") == path("b_blue.png"));
  BOOST_TEST(r.result.stats.stages.at("i").errors == 1u);
  auto log = test::joined(r.log);
  BOOST_TEST(log.find(path("b_broken.png")) != std::string::npos, log);
}

BOOST_FIXTURE_TEST_CASE(a_glob_matching_nothing_fails_at_start_up, ingest_fixture) {
  auto r = run(graph(fmt::format("path = '{}/*.png'", dir.string())));
  BOOST_TEST((r.result.status == run_result::outcome::failed));
  BOOST_REQUIRE(!r.result.failures.empty());
  BOOST_TEST(r.result.failures[0] ==
             fmt::format("stage 'i' (image_source) failed to open: no files match '{}/*.png'",
                         dir.string()));
}
