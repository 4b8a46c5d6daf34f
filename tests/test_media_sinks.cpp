// The output stages end to end, in-process: image_sink, video_sink and jsonl_sink write files
// that FFmpeg (ffprobe, ffmpeg) reads back with the right size, frame count, colour and
// provenance tags; align joins two streams by timestamp; errors name the stage and packet.
#include <boost/property_tree/json_parser.hpp>
#include <boost/property_tree/ptree.hpp>
#include <boost/test/unit_test.hpp>

#include <filesystem>
#include <map>
#include <sstream>
#include <thread>

#include <fmt/format.h>

#include "process.hpp"
#include "runtime_fixture.hpp"

using namespace loom;
using namespace std::chrono_literals;
namespace fs = std::filesystem;
namespace pt = boost::property_tree;

namespace {

// Turns each packet into an image (or clip) of one colour, timed `period_us` apart; optionally
// with "seed" metadata and a "text" tensor, and a different size from packet `resize_at` on.
class painter final : public stage {
 public:
  void process(stage_context& ctx) override {
    const auto& p = ctx.params();
    const auto& in = ctx.input();
    auto out = in.derive();
    out.timestamp_us = static_cast<std::int64_t>(in.sequence) * p.integer("period_us") + p.integer("offset_us");
    auto height = p.integer("height"), width = p.integer("width"), frames = p.integer("frames");
    if (p.integer("resize_at") >= 0 && static_cast<std::int64_t>(in.sequence) >= p.integer("resize_at"))
      height += 2;
    shape_t shape;
    if (frames > 0) shape.push_back(frames);
    for (auto d : {height, width, std::int64_t{3}}) shape.push_back(d);
    bool f32 = p.string("dtype") == "f32";
    auto image = tensor::zeros(f32 ? dtype::f32 : dtype::u8, shape);
    auto rgb = p.integers("rgb");
    for (std::int64_t i = 0; i < image.numel(); ++i) {
      auto v = rgb[static_cast<std::size_t>(i % 3)];
      if (f32)
        image.data<float>()[i] = static_cast<float>(v) / 255.0f;
      else
        image.data<std::uint8_t>()[i] = static_cast<std::uint8_t>(v);
    }
    out.tensors.push_back({"image", image});
    if (!p.string("seed").empty()) out.metadata.emplace_back("seed", p.string("seed"));
    if (!p.string("text").empty()) {
      const auto& text = p.string("text");
      auto t = tensor::zeros(dtype::u8, {static_cast<std::int64_t>(text.size())});
      std::copy(text.begin(), text.end(), reinterpret_cast<char*>(t.raw()));
      out.tensors.push_back({"text", t});
    }
    ctx.emit("out", std::move(out));
  }
};

struct fixture {
  stage_registry registry = stage_registry::with_builtins();
  fs::path dir = fs::temp_directory_path() /
                 fmt::format("loom-sinks-{}-{}", getpid(), std::chrono::steady_clock::now().time_since_epoch().count());

  fixture() {
    stage_spec s;
    s.type = "painter";
    s.inputs = {{"in", "", {}}};
    s.outputs = {{"out", "", {}}};
    s.params = {integer_param("height", 48, ""),        integer_param("width", 64, ""),
                integer_param("frames", 0, ""),         integer_param("period_us", 40'000, ""),
                integer_param("offset_us", 0, ""),      integer_param("resize_at", -1, ""),
                integer_list_param("rgb", std::vector<std::int64_t>{200, 100, 50}, ""),
                string_param("dtype", "u8", ""),        string_param("seed", "", ""),
                string_param("text", "", "")};
    s.make = [] { return std::make_unique<painter>(); };
    registry.add(s, "test");
    fs::create_directories(dir);
  }
  ~fixture() { fs::remove_all(dir); }

  test::ran run(const std::string& body, const std::atomic<int>* stop = nullptr) {
    return test::run_text("[graph]\nname = \"sinks\"\nversion = 1\n" + body, registry, stop);
  }

  std::string path(const std::string& name) const { return (dir / name).string(); }
};

// `ffprobe ... -of default=noprint_wrappers=1` as key=value pairs (TAG:key for tags).
std::map<std::string, std::string> probe(const std::vector<std::string>& args) {
  std::vector<std::string> command{"/usr/bin/ffprobe", "-v", "error"};
  command.insert(command.end(), args.begin(), args.end());
  command.insert(command.end(), {"-of", "default=noprint_wrappers=1"});
  auto r = test::run_process(command);
  BOOST_TEST_REQUIRE(r.exit_code == 0, "ffprobe failed: " << r.err);
  std::map<std::string, std::string> out;
  std::istringstream lines(r.out);
  for (std::string line; std::getline(lines, line);) {
    auto eq = line.find('=');
    if (eq != std::string::npos) out.emplace(line.substr(0, eq), line.substr(eq + 1));
  }
  return out;
}

// The RGB bytes of frame `index` of a picture or video, decoded by ffmpeg.
std::string decode_rgb(const std::string& file, int index = 0) {
  auto r = test::run_process({"/usr/bin/ffmpeg", "-v", "error", "-i", file, "-vf",
                              fmt::format("select=eq(n\\,{})", index), "-frames:v", "1", "-f",
                              "rawvideo", "-pix_fmt", "rgb24", "-"});
  BOOST_TEST_REQUIRE(r.exit_code == 0, "ffmpeg failed: " << r.err);
  return r.out;
}

bool near(std::string_view rgb, std::vector<int> want, int tolerance) {
  if (rgb.size() < 3) return false;
  std::size_t middle = (rgb.size() / 3 / 2) * 3;
  for (int c = 0; c < 3; ++c)
    if (std::abs(static_cast<unsigned char>(rgb[middle + c]) - want[c]) > tolerance) return false;
  return true;
}

std::vector<pt::ptree> read_jsonl(const std::string& file) {
  std::vector<pt::ptree> out;
  std::istringstream lines(test::slurp(file));
  for (std::string line; std::getline(lines, line);) {
    std::istringstream in(line);
    pt::ptree tree;
    pt::read_json(in, tree);
    out.push_back(std::move(tree));
  }
  return out;
}

bool logged(const test::ran& r, const std::string& part) {
  for (const auto& line : r.log)
    if (line.find(part) != std::string::npos) return true;
  for (const auto& line : r.result.failures)
    if (line.find(part) != std::string::npos) return true;
  return false;
}

}  // namespace

BOOST_FIXTURE_TEST_CASE(image_sink_writes_pngs_that_ffmpeg_reads_back_with_provenance, fixture) {
  auto r = run(fmt::format(R"(
[stages.src]
type = "synthetic_source"
count = 3
[stages.paint]
type = "painter"
inputs.in = "src.out"
[stages.save]
type = "image_sink"
path = "{}/png/{{stage}}_{{sequence:03}}.png"
seed = "7"
inputs.in = "paint.out"
)", dir.string()));
  BOOST_TEST_REQUIRE((r.result.status == run_result::outcome::completed));
  for (int i = 0; i < 3; ++i) BOOST_TEST(fs::exists(dir / "png" / fmt::format("save_{:03}.png", i)));
  BOOST_TEST(!fs::exists(dir / "png" / "save_000.png.part"));
  auto file = path("png/save_001.png");
  auto info = probe({"-show_entries", "stream=width,height:frame_tags", "-show_frames", file});
  BOOST_TEST(info["width"] == "64");
  BOOST_TEST(info["height"] == "48");
  BOOST_TEST(info["TAG:Software"] == "loom 0.1.0");
  BOOST_TEST(info["TAG:loom_generator"] == "loom");
  BOOST_TEST(info["TAG:loom_version"] == "0.1.0");
  BOOST_TEST(info["TAG:loom_graph"] == "sinks");
  BOOST_TEST(info["TAG:loom_stage"] == "save");
  BOOST_TEST(info["TAG:loom_seed"] == "7");
  BOOST_TEST(info["TAG:loom_ai_generated"] == "true");
  BOOST_TEST(info["TAG:loom_created"].size() == 20u);  // 2026-11-25T23:04:05Z
  BOOST_TEST(info["TAG:Creation Time"] == info["TAG:loom_created"]);
  BOOST_TEST(info["TAG:Comment"].find("AI-generated") != std::string::npos);
  auto rgb = decode_rgb(file);
  BOOST_TEST(rgb.size() == 64u * 48 * 3);
  BOOST_TEST(near(rgb, {200, 100, 50}, 0));  // PNG is lossless
}

BOOST_FIXTURE_TEST_CASE(image_sink_writes_f32_clips_frame_by_frame_with_the_packet_seed, fixture) {
  auto r = run(fmt::format(R"(
[stages.src]
type = "synthetic_source"
count = 2
[stages.paint]
type = "painter"
frames = 3
dtype = "f32"
rgb = [255, 128, 0]
seed = "1234"
inputs.in = "src.out"
[stages.save]
type = "image_sink"
path = "{}/clip/s{{sequence}}_f{{frame}}.png"
seed = "overridden"
inputs.in = "paint.out"
)", dir.string()));
  BOOST_TEST_REQUIRE((r.result.status == run_result::outcome::completed));
  std::size_t files = 0;
  for (const auto& e : fs::directory_iterator(dir / "clip")) files += e.path().extension() == ".png";
  BOOST_TEST(files == 6u);
  auto file = path("clip/s1_f2.png");
  auto info = probe({"-show_entries", "frame_tags", "-show_frames", file});
  BOOST_TEST(info["TAG:loom_seed"] == "1234");
  BOOST_TEST(near(decode_rgb(file), {255, 128, 0}, 0));
}

BOOST_FIXTURE_TEST_CASE(image_sink_refuses_a_clip_without_a_frame_placeholder, fixture) {
  auto r = run(fmt::format(R"(
[stages.src]
type = "synthetic_source"
count = 1
[stages.paint]
type = "painter"
frames = 2
inputs.in = "src.out"
[stages.save]
type = "image_sink"
path = "{}/x_{{sequence}}.png"
on_error = "fail"
inputs.in = "paint.out"
)", dir.string()));
  BOOST_TEST((r.result.status == run_result::outcome::failed));
  BOOST_TEST(logged(r, "stage 'save' (image_sink) on packet 0"));
  BOOST_TEST(logged(r, "no {frame} placeholder"));
}

BOOST_FIXTURE_TEST_CASE(video_sink_writes_h264_mp4_timed_by_the_timestamps, fixture) {
  auto r = run(fmt::format(R"(
[stages.src]
type = "synthetic_source"
count = 12
[stages.paint]
type = "painter"
period_us = 40000
seed = "99"
inputs.in = "src.out"
[stages.save]
type = "video_sink"
path = "{}/video/out.mp4"
preset = "ultrafast"
inputs.in = "paint.out"
)", dir.string()));
  BOOST_TEST_REQUIRE((r.result.status == run_result::outcome::completed));
  auto file = path("video/out.mp4");
  auto info = probe({"-count_frames", "-show_entries",
                     "stream=codec_name,width,height,pix_fmt,avg_frame_rate,nb_read_frames:format_tags",
                     "-select_streams", "v:0", file});
  BOOST_TEST(info["codec_name"] == "h264");
  BOOST_TEST(info["pix_fmt"] == "yuv420p");
  BOOST_TEST(info["width"] == "64");
  BOOST_TEST(info["height"] == "48");
  BOOST_TEST(info["nb_read_frames"] == "12");
  BOOST_TEST(info["avg_frame_rate"] == "25/1");
  BOOST_TEST(info["TAG:loom_generator"] == "loom");
  BOOST_TEST(info["TAG:loom_version"] == "0.1.0");
  BOOST_TEST(info["TAG:loom_graph"] == "sinks");
  BOOST_TEST(info["TAG:loom_stage"] == "save");
  BOOST_TEST(info["TAG:loom_seed"] == "99");
  BOOST_TEST(info["TAG:loom_ai_generated"] == "true");
  BOOST_TEST(info["TAG:comment"].find("AI-generated by loom 0.1.0") != std::string::npos);
  BOOST_TEST(info["TAG:creation_time"].substr(0, 19) == info["TAG:loom_created"].substr(0, 19));
  auto rgb = decode_rgb(file, 6);
  BOOST_TEST(rgb.size() == 64u * 48 * 3);
  BOOST_TEST(near(rgb, {200, 100, 50}, 8));  // through YUV 4:2:0 and H.264
}

BOOST_FIXTURE_TEST_CASE(video_sink_writes_clips_at_a_fixed_rate, fixture) {
  auto r = run(fmt::format(R"(
[stages.src]
type = "synthetic_source"
count = 3
[stages.paint]
type = "painter"
frames = 4
height = 32
width = 32
dtype = "f32"
rgb = [20, 220, 120]
inputs.in = "src.out"
[stages.save]
type = "video_sink"
path = "{}/clips.mp4"
fps = 10
preset = "ultrafast"
inputs.in = "paint.out"
)", dir.string()));
  BOOST_TEST_REQUIRE((r.result.status == run_result::outcome::completed));
  auto info = probe({"-count_frames", "-show_entries", "stream=width,height,r_frame_rate,nb_read_frames",
                     "-select_streams", "v:0", path("clips.mp4")});
  BOOST_TEST(info["nb_read_frames"] == "12");
  BOOST_TEST(info["r_frame_rate"] == "10/1");
  BOOST_TEST(info["width"] == "32");
  BOOST_TEST(near(decode_rgb(path("clips.mp4"), 11), {20, 220, 120}, 8));
}

BOOST_FIXTURE_TEST_CASE(video_sink_spreads_clip_frames_until_the_next_timestamp, fixture) {
  auto r = run(fmt::format(R"(
[stages.src]
type = "synthetic_source"
count = 3
[stages.paint]
type = "painter"
frames = 5
period_us = 500000
inputs.in = "src.out"
[stages.save]
type = "video_sink"
path = "{}/spread.mp4"
preset = "ultrafast"
inputs.in = "paint.out"
)", dir.string()));
  BOOST_TEST_REQUIRE((r.result.status == run_result::outcome::completed));
  auto info = probe({"-count_frames", "-show_entries", "stream=avg_frame_rate,nb_read_frames:format=duration",
                     "-select_streams", "v:0", path("spread.mp4")});
  BOOST_TEST(info["nb_read_frames"] == "15");
  BOOST_TEST(info["avg_frame_rate"] == "10/1");  // 5 frames per 0.5 s
  BOOST_TEST(std::stod(info["duration"]) == 1.5, boost::test_tools::tolerance(0.01));
}

BOOST_FIXTURE_TEST_CASE(video_sink_refuses_odd_sizes_naming_stage_and_packet, fixture) {
  auto r = run(fmt::format(R"(
[stages.src]
type = "synthetic_source"
count = 2
[stages.paint]
type = "painter"
height = 33
inputs.in = "src.out"
[stages.save]
type = "video_sink"
path = "{}/odd.mp4"
on_error = "fail"
inputs.in = "paint.out"
)", dir.string()));
  BOOST_TEST((r.result.status == run_result::outcome::failed));
  BOOST_TEST(logged(r, "stage 'save' (video_sink) on packet 0: frames are 64x33; H.264 in 4:2:0 needs an even width and height"));
  BOOST_TEST(!fs::exists(dir / "odd.mp4"));  // no frames, no file
}

BOOST_FIXTURE_TEST_CASE(video_sink_refuses_a_size_change_and_keeps_the_file_valid, fixture) {
  auto r = run(fmt::format(R"(
[stages.src]
type = "synthetic_source"
count = 8
[stages.paint]
type = "painter"
resize_at = 5
inputs.in = "src.out"
[stages.save]
type = "video_sink"
path = "{}/resize.mp4"
preset = "ultrafast"
inputs.in = "paint.out"
)", dir.string()));
  BOOST_TEST((r.result.status == run_result::outcome::completed));  // on_error = "skip"
  BOOST_TEST(r.result.stats.stages.at("save").errors == 3u);
  BOOST_TEST(logged(r, "stage 'save' (video_sink) on packet 5: frame size changed from 64x48 to 64x50"));
  auto info = probe({"-count_frames", "-show_entries", "stream=height,nb_read_frames", path("resize.mp4")});
  BOOST_TEST(info["nb_read_frames"] == "5");
  BOOST_TEST(info["height"] == "48");
}

BOOST_FIXTURE_TEST_CASE(sinks_that_cannot_write_fail_the_run_before_it_starts, fixture) {
  { std::ofstream(dir / "a-file") << "not a folder"; }
  for (std::string type : {"video_sink", "jsonl_sink"}) {
    auto r = run(fmt::format(R"(
[stages.src]
type = "synthetic_source"
count = 2
[stages.paint]
type = "painter"
inputs.in = "src.out"
[stages.save]
type = "{}"
path = "{}/a-file/out.x"
inputs.in = "paint.out"
)", type, dir.string()));
    BOOST_TEST((r.result.status == run_result::outcome::failed));
    BOOST_TEST(logged(r, fmt::format("stage 'save' ({}) failed to open", type)), type);
    BOOST_TEST(r.result.stats.stages.at("paint").packets_in == 0u);
  }
  auto r = run(fmt::format(R"(
[stages.src]
type = "synthetic_source"
count = 2
[stages.paint]
type = "painter"
inputs.in = "src.out"
[stages.save]
type = "image_sink"
path = "{}/a-file/{{sequence}}.png"
inputs.in = "paint.out"
)", dir.string()));
  BOOST_TEST(r.result.stats.stages.at("save").errors == 2u);
  BOOST_TEST(logged(r, "stage 'save' (image_sink) on packet 1"));
}

BOOST_FIXTURE_TEST_CASE(video_sink_finishes_the_file_when_a_run_is_stopped, fixture) {
  std::atomic<int> stop{0};
  std::thread stopper([&] {
    std::this_thread::sleep_for(400ms);
    stop = 1;
  });
  auto r = run(fmt::format(R"(
[stages.src]
type = "synthetic_source"
count = 1000000
rate_hz = 100
[stages.paint]
type = "painter"
period_us = 10000
inputs.in = "src.out"
[stages.save]
type = "video_sink"
path = "{}/stopped.mp4"
preset = "ultrafast"
inputs.in = "paint.out"
)", dir.string()), &stop);
  stopper.join();
  BOOST_TEST((r.result.status == run_result::outcome::interrupted));
  auto sent = r.result.stats.stages.at("save").packets_in;
  BOOST_TEST(sent > 0u);
  auto info = probe({"-count_frames", "-show_entries", "stream=nb_read_frames,avg_frame_rate", path("stopped.mp4")});
  BOOST_TEST(info["nb_read_frames"] == std::to_string(sent));
  BOOST_TEST(info["avg_frame_rate"] == "100/1");
}

BOOST_FIXTURE_TEST_CASE(jsonl_sink_writes_provenance_then_one_line_per_packet, fixture) {
  auto r = run(fmt::format(R"(
[stages.src]
type = "synthetic_source"
count = 4
[stages.paint]
type = "painter"
seed = "5"
text = "a \"quoted\" caption\nwith ünïcode"
inputs.in = "src.out"
[stages.log]
type = "jsonl_sink"
path = "{}/log/out.jsonl"
seed = "11"
inputs.in = "paint.out"
)", dir.string()));
  BOOST_TEST_REQUIRE((r.result.status == run_result::outcome::completed));
  auto lines = read_jsonl(path("log/out.jsonl"));
  BOOST_TEST_REQUIRE(lines.size() == 5u);
  const auto& origin = lines[0].get_child("provenance");
  BOOST_TEST(origin.get<std::string>("loom_generator") == "loom");
  BOOST_TEST(origin.get<std::string>("loom_graph") == "sinks");
  BOOST_TEST(origin.get<std::string>("loom_stage") == "log");
  BOOST_TEST(origin.get<std::string>("loom_seed") == "11");
  BOOST_TEST(origin.get<std::string>("loom_ai_generated") == "true");
  for (std::size_t i = 1; i < lines.size(); ++i) {
    const auto& l = lines[i];
    BOOST_TEST(l.get<std::uint64_t>("sequence") == i - 1);
    BOOST_TEST(l.get<std::int64_t>("timestamp_us") == static_cast<std::int64_t>(i - 1) * 40'000);
    BOOST_TEST(l.get<std::string>("metadata.seed") == "5");
    BOOST_TEST(l.get<std::string>("text") == "a \"quoted\" caption\nwith ünïcode");
    std::vector<std::string> names, shapes;
    for (const auto& [_, t] : l.get_child("tensors")) {
      names.push_back(t.get<std::string>("name"));
      std::string shape;
      for (const auto& [__, d] : t.get_child("shape")) shape += d.data() + ",";
      shapes.push_back(t.get<std::string>("dtype") + ":" + shape);
    }
    BOOST_TEST(names == (std::vector<std::string>{"image", "text"}), boost::test_tools::per_element());
    BOOST_TEST(shapes[0] == "u8:48,64,3,");
  }
}

BOOST_FIXTURE_TEST_CASE(align_pairs_prompts_with_the_nearest_frame, fixture) {
  auto r = run(fmt::format(R"(
[stages.prompts]
type = "synthetic_source"
count = 6
[stages.frames]
type = "synthetic_source"
count = 40
[stages.prompt]
type = "painter"
period_us = 100000
offset_us = 3000
text = "a prompt"
inputs.in = "prompts.out"
[stages.frame]
type = "painter"
period_us = 20000
inputs.in = "frames.out"
[stages.pair]
type = "align"
tolerance_us = 5000
inputs.a = "prompt.out"
inputs.b = "frame.out"
[stages.log]
type = "jsonl_sink"
path = "{}/pairs.jsonl"
inputs.in = "pair.out"
)", dir.string()));
  BOOST_TEST_REQUIRE((r.result.status == run_result::outcome::completed));
  auto lines = read_jsonl(path("pairs.jsonl"));
  BOOST_TEST_REQUIRE(lines.size() == 7u);
  for (std::size_t i = 1; i < lines.size(); ++i) {
    auto t = lines[i].get<std::int64_t>("timestamp_us");
    BOOST_TEST(t == static_cast<std::int64_t>(i - 1) * 100'000 + 3'000);
    std::string matched;
    for (const auto& [key, value] : lines[i].get_child("metadata"))
      if (key == "b.timestamp_us") matched = value.data();
    BOOST_TEST(matched == std::to_string(t - 3'000));
    std::vector<std::string> names;
    for (const auto& [_, tensor] : lines[i].get_child("tensors")) names.push_back(tensor.get<std::string>("name"));
    BOOST_TEST(names == (std::vector<std::string>{"image", "text", "b.image"}), boost::test_tools::per_element());
  }
  BOOST_TEST(r.result.stats.stages.at("pair").packets_in == 46u);
  BOOST_TEST(r.result.stats.stages.at("pair").dropped == 0u);
}

BOOST_FIXTURE_TEST_CASE(align_window_makes_clips_that_video_sink_writes, fixture) {
  auto r = run(fmt::format(R"(
[stages.prompts]
type = "synthetic_source"
count = 2
[stages.frames]
type = "synthetic_source"
count = 30
[stages.prompt]
type = "painter"
period_us = 300000
offset_us = 100000
height = 2
width = 2
inputs.in = "prompts.out"
[stages.frame]
type = "painter"
period_us = 20000
inputs.in = "frames.out"
[stages.pair]
type = "align"
mode = "window"
tolerance_us = 50000
unmatched = "pass"
inputs.a = "prompt.out"
inputs.b = "frame.out"
[stages.save]
type = "video_sink"
tensor = "b.image"
path = "{}/window.mp4"
preset = "ultrafast"
inputs.in = "pair.out"
)", dir.string()));
  BOOST_TEST_REQUIRE((r.result.status == run_result::outcome::completed));
  // Windows [50, 150] and [350, 450] ms hold 5 frames each (20 ms apart).
  auto info = probe({"-count_frames", "-show_entries", "stream=width,height,nb_read_frames", path("window.mp4")});
  BOOST_TEST(info["nb_read_frames"] == "10");
  BOOST_TEST(info["width"] == "64");
}

namespace {

// Drives a sink by hand, with the run info a graph file would give: defaults filled in,
// `settings` on top, the packets in order, then close.
void drive(const stage_registry& registry, const std::string& type,
           std::map<std::string, param_value, std::less<>> settings, const run_info& run,
           const std::vector<packet_ptr>& packets) {
  const auto* spec = registry.find(type);
  BOOST_TEST_REQUIRE(spec != nullptr);
  std::map<std::string, param_value, std::less<>> values;
  for (const auto& p : spec->params)
    if (p.default_value) values[p.key] = *p.default_value;
  for (auto& [key, value] : settings) values[key] = value;
  stage_context ctx("save", *spec, param_values(std::move(values)));
  ctx.set_run_info(run);
  auto instance = spec->make();
  instance->open(ctx);
  for (const auto& p : packets) {
    ctx.set_input(0, p);
    instance->process(ctx);
  }
  instance->close(ctx);
}

packet_ptr grey_image(std::uint64_t sequence) {
  packet p;
  p.sequence = sequence;
  p.timestamp_us = static_cast<std::int64_t>(sequence) * 50'000;
  p.tensors.push_back({"image", tensor::zeros(dtype::u8, {16, 16, 1})});
  return std::make_shared<const packet>(std::move(p));
}

}  // namespace

BOOST_FIXTURE_TEST_CASE(files_carry_the_graph_hash_and_names_beyond_ascii, fixture) {
  run_info run{"smöke", "graphs/smoke.toml", std::string(64, 'c'), "0.1.0"};
  drive(registry, "image_sink", {{"path", path("hand/{sequence}.png")}, {"ai_generated", false}}, run,
        {grey_image(0)});
  auto png = probe({"-show_entries", "stream=width,height:frame_tags", "-show_frames", path("hand/0.png")});
  BOOST_TEST(png["width"] == "16");
  BOOST_TEST(png["TAG:loom_graph"] == "smöke");
  BOOST_TEST(png["TAG:loom_graph_sha256"] == std::string(64, 'c'));
  BOOST_TEST(png["TAG:loom_ai_generated"] == "false");
  BOOST_TEST(png.count("TAG:Comment") == 0u);  // the "AI-generated" sentence is not claimed
  BOOST_TEST(png.count("TAG:loom_seed") == 0u);

  drive(registry, "video_sink", {{"path", path("hand/v.mp4")}, {"seed", std::string("3")}}, run,
        {grey_image(0), grey_image(1), grey_image(2)});
  auto mp4 = probe({"-count_frames", "-show_entries", "stream=nb_read_frames,avg_frame_rate:format_tags",
                    path("hand/v.mp4")});
  BOOST_TEST(mp4["nb_read_frames"] == "3");
  BOOST_TEST(mp4["avg_frame_rate"] == "20/1");
  BOOST_TEST(mp4["TAG:loom_graph"] == "smöke");
  BOOST_TEST(mp4["TAG:loom_graph_sha256"] == std::string(64, 'c'));
  BOOST_TEST(mp4["TAG:loom_seed"] == "3");
}
