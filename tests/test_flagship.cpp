// The flagship example (examples/multimodal/graph.toml), run as the README runs it: every stage
// sees its packets, the MoE shards run on their own cores, and for each of the three requests the
// decoders write a 64×64 PNG and eight 32×32 frames (and one MP4 of all frames) under the working
// directory, while the inputs are found next to the graph file. Whether the pictures show what
// the prompts say is test_trained_model's job.
#include <boost/test/unit_test.hpp>

#include <boost/property_tree/json_parser.hpp>
#include <boost/property_tree/ptree.hpp>

#include <filesystem>
#include <numeric>

#include "process.hpp"

namespace fs = std::filesystem;
namespace pt = boost::property_tree;

namespace {

// Width and height from a PNG's IHDR chunk.
std::pair<int, int> png_size(const fs::path& path) {
  auto bytes = loom::test::slurp(path);
  BOOST_REQUIRE(bytes.size() > 24 && bytes.compare(1, 3, "PNG") == 0);
  auto be32 = [&](std::size_t at) {
    return (static_cast<unsigned char>(bytes[at]) << 24) | (static_cast<unsigned char>(bytes[at + 1]) << 16) |
           (static_cast<unsigned char>(bytes[at + 2]) << 8) | static_cast<unsigned char>(bytes[at + 3]);
  };
  return {be32(16), be32(20)};
}

}  // namespace

BOOST_AUTO_TEST_CASE(the_flagship_example_runs_end_to_end) {
  const auto work = fs::temp_directory_path() / ("loom-flagship-" + std::to_string(getpid()));
  fs::create_directories(work);
  const auto previous = fs::current_path();
  fs::current_path(work);  // outputs go to the working directory
  auto r = loom::test::run_process({LOOM_EXECUTABLE, "run",
                                    std::string(LOOM_SOURCE_DIR) + "/examples/multimodal/graph.toml",
                                    "--stats", "json"});
  fs::current_path(previous);
  BOOST_TEST_INFO(r.err);
  BOOST_REQUIRE_EQUAL(r.exit_code, 0);

  std::istringstream line(r.last_line());
  pt::ptree stats;
  pt::read_json(line, stats);
  for (const auto& [name, stage] : stats.get_child("stages")) {
    BOOST_TEST_CONTEXT(name) {
      BOOST_TEST(stage.get<int>("errors") == 0);
      BOOST_TEST(stage.get<int>("packets_in") + stage.get<int>("packets_out") >= 1);
    }
  }
  BOOST_TEST(stats.get<std::string>("stages.backbone/shard0.cpus..") == "0");
  BOOST_TEST(stats.get<std::string>("stages.backbone/shard1.cpus..") == "1");
  std::uint64_t routed = 0;
  for (const auto& [_, count] : stats.get_child("stages.backbone/router.counters.tokens_per_expert"))
    routed += count.get_value<std::uint64_t>();
  // Every token goes to top_k = 2 experts; each of the three sequences has 16 picture and 16 clip
  // tokens plus its prompt's (one per word).
  BOOST_TEST(routed % 2 == 0u);
  BOOST_TEST(routed / 2 == 3u * (16 + 16 + 3));

  const auto out = work / "out" / "multimodal";
  for (int request = 0; request < 3; ++request) {
    const auto number = "00" + std::to_string(request);
    BOOST_TEST((png_size(out / ("image_" + number + ".png")) == std::pair<int, int>{64, 64}));
    for (int f = 0; f < 8; ++f)
      BOOST_TEST((png_size(out / ("frame_" + number + "_0" + std::to_string(f) + ".png")) ==
                  std::pair<int, int>{32, 32}));
  }
  BOOST_TEST(fs::file_size(out / "clip.mp4") > 0u);
  fs::remove_all(work);
}
