// The tiny model trained by tools/train/train.py draws what its prompt says: loom runs the
// held-back prompts (examples/multimodal/model/held_back.tsv, captions training never saw)
// through the shipped text-only example (examples/multimodal/text_to_media.toml: tokenizer, text
// encoder, sharded MoE backbone, painter and animator, all trained), and
// picture_measure.hpp reads the PNGs back. At least 80 % of the pictures must show the named
// colour and shape, and 80 % of the clips (prompts with a direction) the named colour moving the
// named way. The shipped flagship graph, with its own prompts, must draw them. A table per
// prompt is logged (--log_level=message) so that a failure shows which prompts went wrong.
// The cases skip while the weights are not in examples/multimodal/model/ (train.py writes them).
#include <fmt/format.h>
#include <unistd.h>

#include <boost/test/unit_test.hpp>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "picture_measure.hpp"
#include "process.hpp"
#include "stages/registry.hpp"

namespace fs = std::filesystem;

namespace {

const fs::path model_dir = fs::path(LOOM_SOURCE_DIR) / "examples" / "multimodal" / "model";
const fs::path flagship = fs::path(LOOM_SOURCE_DIR) / "examples" / "multimodal" / "graph.toml";
const fs::path text_to_media = fs::path(LOOM_SOURCE_DIR) / "examples" / "multimodal" / "text_to_media.toml";
const std::vector<std::string> weight_files{"text_encoder", "image_encoder", "video_encoder",
                                            "backbone",     "painter",       "animator"};
constexpr int image_side = 64, clip_side = 32, clip_frames = 8;
constexpr double required_share = 0.8;

boost::test_tools::assertion_result has_trained_weights(boost::unit_test::test_unit_id) {
  std::string missing;
  for (const auto& name : weight_files)
    if (!fs::exists(model_dir / (name + ".safetensors"))) missing += " " + name + ".safetensors";
  boost::test_tools::assertion_result result(missing.empty());
  result.message() << "no trained weights in examples/multimodal/model/ (missing" << missing
                   << "; tools/train/train.py writes them): skipped";
  if (!missing.empty()) return result;
  // image_sink writes the pictures; it is a media stage.
  result = boost::test_tools::assertion_result(loom::stage_registry::with_builtins().find("image_sink") !=
                                               nullptr);
  result.message() << "loom was built without the media stages: skipped";
  return result;
}

boost::test_tools::assertion_result flagship_has_trained_weights(boost::unit_test::test_unit_id id) {
  auto result = has_trained_weights(id);
  if (!result) return result;
  result =
      boost::test_tools::assertion_result(loom::test::slurp(flagship).find("\"random:") == std::string::npos);
  result.message() << "examples/multimodal/graph.toml still names random weights: skipped";
  return result;
}

std::string toml_string(const std::string& s) {
  std::string out = "\"";
  for (char c : s) out += c == '"' || c == '\\' ? std::string{'\\', c} : std::string{c};
  return out + "\"";
}

// Where `prompts = [...]` (which may span lines) is in a graph file's text: [begin, end).
std::pair<std::size_t, std::size_t> prompts_list(const std::string& text, const fs::path& file) {
  const auto begin = text.find("\nprompts = [");
  BOOST_TEST_REQUIRE(begin != std::string::npos, file << " has no `prompts = [...]` line");
  const auto end = text.find(']', begin);
  BOOST_TEST_REQUIRE(end != std::string::npos, file << ": `prompts = [` is never closed");
  return {begin + 1, end + 1};
}

// Every PNG whose name matches the glob `pattern`, in name order, as f32 RGB pixels in [0, 1]
// of `side` × `side`; ffmpeg decodes them (loom's own PNG reading is not exported to tests).
std::vector<std::vector<float>> read_pngs(const fs::path& pattern, int side) {
  auto r = loom::test::run_process({"/usr/bin/ffmpeg", "-v", "error", "-pattern_type", "glob", "-i",
                                    pattern.string(), "-f", "rawvideo", "-pix_fmt", "rgb24", "-"});
  BOOST_TEST_REQUIRE(r.exit_code == 0, "ffmpeg could not read " << pattern << ": " << r.err);
  const std::size_t frame_bytes = static_cast<std::size_t>(side) * side * 3;
  BOOST_TEST_REQUIRE(r.out.size() % frame_bytes == 0u,
                     "the PNGs " << pattern << " are not " << side << "×" << side);
  std::vector<std::vector<float>> out(r.out.size() / frame_bytes);
  for (std::size_t i = 0; i < out.size(); ++i)
    for (std::size_t b = 0; b < frame_bytes; ++b)
      out[i].push_back(static_cast<unsigned char>(r.out[i * frame_bytes + b]) / 255.0f);
  return out;
}

// A scratch directory, removed when done.
struct scratch {
  fs::path dir = fs::temp_directory_path() / ("loom-trained-" + std::to_string(getpid()));
  scratch() { fs::create_directories(dir); }
  ~scratch() {
    std::error_code ignored;
    fs::remove_all(dir, ignored);
  }
};

// A prompt and the words it names; "-" where it names none.
struct prompt {
  std::string text, colour = "-", shape = "-", direction = "-";
};

std::vector<prompt> read_held_back() {
  const auto path = model_dir / "held_back.tsv";
  std::ifstream in(path);
  BOOST_TEST_REQUIRE(in.good(), path << " is missing: tools/train/train.py writes it with the weights");
  std::string line;
  std::getline(in, line);
  BOOST_TEST_REQUIRE(line == "prompt\tcolour\tshape\tsize\tplace\tdirection",
                     path << " starts with \"" << line
                          << "\", expected the header prompt, colour, shape, size, place, direction "
                             "(tab-separated)");
  std::vector<prompt> out;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    std::vector<std::string> columns;
    std::istringstream fields(line);
    for (std::string field; std::getline(fields, field, '\t');) columns.push_back(field);
    BOOST_TEST_REQUIRE(columns.size() == 6u, path << ": \"" << line << "\" has " << columns.size()
                                                  << " tab-separated columns, expected 6");
    out.push_back({columns[0], columns[1], columns[2], columns[5]});
  }
  return out;
}

// `want` is "-" (the prompt does not say) or what was measured.
bool agrees(const std::string& want, const std::string& got) { return want == "-" || want == got; }

// The colour most frames of a clip show ("" when none shows one).
std::string clip_colour(const std::vector<float>& clip) {
  std::map<std::string, int> votes;
  for (int f = 0; f < clip_frames; ++f)
    ++votes[loom::test::dominant_colour(clip.data() + f * clip_side * clip_side * 3, clip_side, clip_side)];
  votes.erase("");
  std::string best;
  for (const auto& [colour, count] : votes)
    if (best.empty() || count > votes[best]) best = colour;
  return best;
}

// Scores the pictures, one per prompt: colour and shape must agree with the prompt's.
int right_pictures(const std::vector<prompt>& prompts, const std::vector<std::vector<float>>& images) {
  int right = 0;
  BOOST_TEST_MESSAGE(
      "picture | wanted colour shape | measured colour (distance) shape (IoU, runner-up) centre");
  for (std::size_t i = 0; i < prompts.size(); ++i) {
    const auto& p = prompts[i];
    auto m = loom::test::measure(images[i].data(), image_side, image_side);
    bool ok = agrees(p.colour, m.colour) && agrees(p.shape, m.shape);
    right += ok;
    const auto measured =
        m.pixels == 0 ? std::string{"no shape"}
                      : fmt::format("{} ({:.2f}) {} ({:.2f}, {:.2f}) ({:.2f}, {:.2f})",
                                    m.colour.empty() ? "-" : m.colour, m.colour_distance,
                                    m.shape.empty() ? "-" : m.shape, m.iou, m.runner_up_iou, m.x, m.y);
    BOOST_TEST_MESSAGE(fmt::format("{:03} {} \"{}\" | {} {} | {}", i, ok ? "right" : "WRONG", p.text,
                                   p.colour, p.shape, measured));
  }
  return right;
}

// The held-back prompts through the shipped text-to-media example; the pictures and the clips'
// frames in prompt order.
struct held_back_run {
  std::vector<prompt> prompts;
  std::vector<std::vector<float>> images, frames;
};

held_back_run run_held_back() {
  auto prompts = read_held_back();
  BOOST_TEST_REQUIRE(!prompts.empty(), "held_back.tsv has no prompts");
  // The shipped text-to-media example with the held-back prompts in place of its own, run from a
  // scratch directory that links to the model so that its relative paths still hold.
  scratch work;
  std::string list;
  for (const auto& p : prompts) list += (list.empty() ? "" : ", ") + toml_string(p.text);
  auto graph_text = loom::test::slurp(text_to_media);
  const auto [begin, end] = prompts_list(graph_text, text_to_media);
  graph_text.replace(begin, end - begin, "prompts = [" + list + "]");
  std::ofstream(work.dir / "graph.toml") << graph_text;
  fs::create_directory_symlink(model_dir, work.dir / "model");
  const auto previous = fs::current_path();
  fs::current_path(work.dir);  // outputs go under the working directory
  auto r = loom::test::run_process({LOOM_EXECUTABLE, "run", (work.dir / "graph.toml").string()});
  fs::current_path(previous);
  BOOST_TEST_INFO(r.err);
  BOOST_TEST_REQUIRE(r.exit_code == 0);

  const auto out = work.dir / "out" / "text_to_media";
  const auto images = read_pngs(out / "image_*.png", image_side);
  const auto frames = read_pngs(out / "frame_*.png", clip_side);
  BOOST_TEST_REQUIRE(images.size() == prompts.size());
  BOOST_TEST_REQUIRE(frames.size() == prompts.size() * clip_frames);

  return {std::move(prompts), std::move(images), std::move(frames)};
}

// Once per test binary: the picture and the clip checks read the same run.
const held_back_run& held_back() {
  static const held_back_run run = run_held_back();
  return run;
}

}  // namespace

BOOST_AUTO_TEST_CASE(held_back_prompts_are_drawn_as_they_say,
                     *boost::unit_test::precondition(has_trained_weights)) {
  const auto& [prompts, images, frames] = held_back();
  const int pictures = right_pictures(prompts, images);
  BOOST_TEST_MESSAGE(fmt::format("{}/{} pictures right", pictures, prompts.size()));
  BOOST_TEST(pictures >= required_share * prompts.size(),
             pictures << " of " << prompts.size() << " pictures show the named colour and shape, expected "
                      << required_share * 100 << " % (run with --log_level=message for the table)");
}

BOOST_AUTO_TEST_CASE(held_back_clips_move_as_they_say,
                     *boost::unit_test::precondition(has_trained_weights)) {
  const auto& [prompts, images, frames] = held_back();
  int clips = 0, clips_right = 0;
  BOOST_TEST_MESSAGE("clip | wanted colour direction | measured colour direction");
  for (std::size_t i = 0; i < prompts.size(); ++i) {
    const auto& p = prompts[i];
    if (p.direction == "-") continue;
    std::vector<float> clip;
    for (int f = 0; f < clip_frames; ++f)
      clip.insert(clip.end(), frames[i * clip_frames + f].begin(), frames[i * clip_frames + f].end());
    const auto colour = clip_colour(clip);
    const auto direction = loom::test::motion_direction(clip.data(), clip_frames, clip_side, clip_side);
    bool ok = agrees(p.colour, colour) && direction == p.direction;
    ++clips, clips_right += ok;
    BOOST_TEST_MESSAGE(fmt::format("{:03} {} \"{}\" | {} {} | {} {}", i, ok ? "right" : "WRONG", p.text,
                                   p.colour, p.direction, colour.empty() ? "-" : colour,
                                   direction.empty() ? "-" : direction));
  }
  BOOST_TEST_REQUIRE(clips > 0, "held_back.tsv has no prompt with a direction, so no clip is checked");
  BOOST_TEST(clips_right >= required_share * clips,
             clips_right << " of " << clips << " clips show the named colour moving the named way, expected "
                         << required_share * 100 << " % (run with --log_level=message for the table)");
}

BOOST_AUTO_TEST_CASE(the_flagship_draws_its_prompts,
                     *boost::unit_test::precondition(flagship_has_trained_weights)) {
  // Its prompts: the strings of the graph file's `prompts = [...]` (which may span lines), each
  // named by the palette colour and the shape among its words.
  const auto text = loom::test::slurp(flagship);
  const auto [begin, end] = prompts_list(text, flagship);
  const auto list = text.substr(begin, end - begin);
  std::vector<prompt> prompts;
  for (auto open = list.find('"'); open != std::string::npos; open = list.find('"', open + 1)) {
    const auto close = list.find('"', open + 1);
    BOOST_TEST_REQUIRE(close != std::string::npos, "an unterminated prompt in " << flagship << ": " << list);
    prompt p{list.substr(open + 1, close - open - 1)};
    std::istringstream words(p.text);
    for (std::string word; words >> word;) {
      for (const auto& [colour, _] : loom::test::palette())
        if (word == colour) p.colour = colour;
      for (const auto& shape : loom::test::shape_names())
        if (word == shape) p.shape = shape;
    }
    BOOST_TEST_REQUIRE((p.colour != "-" && p.shape != "-"),
                       "the flagship prompt \"" << p.text << "\" names no palette colour or no shape");
    prompts.push_back(p);
    open = close;
  }
  BOOST_TEST_REQUIRE(!prompts.empty(), flagship << " has an empty `prompts = [...]`");

  scratch work;
  const auto previous = fs::current_path();
  fs::current_path(work.dir);  // the flagship writes its outputs under the working directory
  auto r = loom::test::run_process({LOOM_EXECUTABLE, "run", flagship.string()});
  fs::current_path(previous);
  BOOST_TEST_INFO(r.err);
  BOOST_TEST_REQUIRE(r.exit_code == 0);
  const auto images = read_pngs(work.dir / "out" / "multimodal" / "image_*.png", image_side);
  BOOST_TEST_REQUIRE(images.size() == prompts.size(), "the flagship wrote " << images.size()
                                                                            << " pictures for "
                                                                            << prompts.size() << " prompts");
  const int right = right_pictures(prompts, images);
  BOOST_TEST(
      right >= required_share * prompts.size(),
      right << " of " << prompts.size() << " flagship pictures show the colour and shape their prompt names, "
            << "expected " << required_share * 100 << " % (run with --log_level=message for the table)");
}
