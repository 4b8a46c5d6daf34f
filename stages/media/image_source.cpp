// image_source: reads PNG and JPEG files (one path or a glob) and emits each as an RGB tensor.
//
//   [stages.images]
//   type = "image_source"
//   path = "data/frames/*.png"   # a file or a glob, its matches sorted by name; relative:
//                                # against the graph file's directory
//   paths = ["a/*.png", "b/*.jpg"]  # more files or globs, after `path`
//   width = 224                  # 0: the image's own size
//   height = 224
//   dtype = "f32"                # "u8" (0..255) or "f32" (normalised to [0, 1])
//
// A relative path or glob is found against the directory of the graph file (input_path.hpp), so
// a graph and its images move together; an absolute one is used as written. One packet per file,
// in the order of `path` then `paths`, each pattern's matches sorted by name: tensor "image"
// [H, W, 3], metadata "path" (the file as resolved). Sequence numbers run from 0; images have no
// media time, so `timestamp_us` is the time the packet was made (steady clock).
//
// Files are decoded with FFmpeg (its image demuxers and PNG/JPEG decoders), converted to RGB by
// libswscale straight into the tensor's memory. A pattern that matches nothing, or a named file
// that is missing, fails `open` ("stage 'NAME' (image_source) failed to open: ..."). A file that
// cannot be decoded is one counted error naming its path; the other files still flow.
#include <glob.h>

#include <algorithm>
#include <filesystem>
#include <optional>
#include <stdexcept>

#include <fmt/format.h>

extern "C" {
#include <libavutil/frame.h>
}

#include "stages/media/ffmpeg_error.hpp"
#include "stages/media/frame_converter.hpp"
#include "stages/media/video_input.hpp"
#include "stages/input_path.hpp"
#include "stages/registry.hpp"

namespace loom {
namespace {

bool has_wildcard(const std::string& pattern) {
  return pattern.find_first_of("*?[") != std::string::npos;
}

std::vector<std::string> expand(const std::string& pattern) {
  if (!has_wildcard(pattern)) {
    if (!std::filesystem::is_regular_file(pattern))
      throw std::runtime_error(fmt::format("no image file '{}'", pattern));
    return {pattern};
  }
  glob_t found{};
  int rc = ::glob(pattern.c_str(), 0, nullptr, &found);
  std::vector<std::string> paths;
  if (rc == 0)
    for (std::size_t i = 0; i < found.gl_pathc; ++i) paths.emplace_back(found.gl_pathv[i]);
  globfree(&found);
  if (paths.empty()) throw std::runtime_error(fmt::format("no files match '{}'", pattern));
  std::sort(paths.begin(), paths.end());
  return paths;
}

class image_source final : public stage {
 public:
  ~image_source() override { av_frame_free(&frame_); }

  void open(stage_context& ctx) override {
    const auto& p = ctx.params();
    type_ = *parse_dtype(p.string("dtype"));
    converter_.emplace(static_cast<int>(p.integer("width")), static_cast<int>(p.integer("height")),
                       type_);
    stream_id_ = static_cast<std::uint64_t>(p.integer("stream_id"));
    std::vector<std::string> patterns;
    if (!p.string("path").empty()) patterns.push_back(input_path(p.string("path"), ctx.run()));
    for (const auto& s : p.strings("paths")) patterns.push_back(input_path(s, ctx.run()));
    if (patterns.empty()) throw std::runtime_error("set `path` or `paths`");
    for (const auto& pattern : patterns)
      for (auto& path : expand(pattern)) paths_.push_back(std::move(path));
    frame_ = av_frame_alloc();
    if (!frame_) throw std::bad_alloc();
  }

  void process(stage_context& ctx) override {
    bool threw_last_call = std::exchange(threw_, false);
    if (next_ >= paths_.size() || ctx.stop_requested()) return ctx.finish();
    const auto& path = paths_[next_];
    try {
      ctx.emit("out", decode(path));
      ++next_;
    } catch (const std::exception& e) {
      // Two failures in a row would make the runtime restart the source from the first file: a
      // failure right after one is held back for a call, which passes without emitting.
      if (threw_last_call) return;
      ++next_;
      threw_ = true;
      throw std::runtime_error(fmt::format("image {} of {}: {}", next_, paths_.size(), e.what()));
    }
  }

 private:
  packet decode(const std::string& path) {
    media::video_input input(path, 1, 0);
    int error = 0;
    auto got = input.next(frame_, error);
    if (got != media::video_input::result::frame)
      throw std::runtime_error(
          fmt::format("cannot decode '{}': {}", path,
                      error < 0 ? media::av_error_text(error) : "no image in it"));
    auto memory = buffer::allocate(converter_->out_bytes(*frame_));
    converter_->convert(*frame_, memory.data());
    packet p;
    p.stream_id = stream_id_;
    p.sequence = sequence_++;
    p.created_ns = steady_now_ns();
    p.timestamp_us = p.created_ns / 1000;
    p.tensors.push_back(
        {"image",
         tensor(type_, {converter_->out_height(*frame_), converter_->out_width(*frame_), 3},
                std::move(memory))});
    p.metadata.emplace_back("path", path);
    av_frame_unref(frame_);
    return p;
  }

  dtype type_ = dtype::u8;
  std::optional<media::frame_converter> converter_;
  std::vector<std::string> paths_;
  std::size_t next_ = 0;
  std::uint64_t sequence_ = 0, stream_id_ = 0;
  AVFrame* frame_ = nullptr;
  bool threw_ = false;
};

}  // namespace

stage_spec image_source_spec() {
  stage_spec spec;
  spec.type = "image_source";
  spec.summary = "Reads PNG/JPEG files (a path or globs) as RGB images";
  spec.doc = R"(Decodes each file of `path` and `paths` (plain paths or globs, each glob's matches
sorted by name) with FFmpeg and emits it as "image" [H, W, 3], u8 or f32 in [0, 1], resized to
`width` x `height` when given. Relative paths and globs are found against the graph file's
directory; metadata "path" names the file as resolved. A pattern matching nothing fails the run
at start-up; an undecodable file is one counted error and the others still flow.

    [stages.images]
    type = "image_source"
    paths = ["shots/*.png", "shots/*.jpg"]
    width = 224
    height = 224
    dtype = "f32")";
  spec.outputs = {{"out", "\"image\" [H, W, 3] per file", {}}};
  spec.params = {
      string_param("path", "", "a file or a glob; empty: use `paths`"),
      param_spec{"paths",
                 param_type::string_list,
                 std::vector<std::string>{},
                 "more files or globs, read after `path`",
                 {},
                 {},
                 {}},
      integer_param("width", 0, "output width in pixels; 0: the image's", 0, 16384),
      integer_param("height", 0, "output height in pixels; 0: the image's", 0, 16384),
      string_param("dtype", "u8", "u8: 0..255; f32: normalised to [0, 1]", {"u8", "f32"}),
      integer_param("stream_id", 0, "stream id stamped on every packet", 0),
  };
  spec.make = [] { return std::make_unique<image_source>(); };
  spec.infer = [](const param_values& p, const std::vector<port_type>&) {
    return std::vector<port_type>{{parse_dtype(p.string("dtype")), 3}};
  };
  return spec;
}

}  // namespace loom
