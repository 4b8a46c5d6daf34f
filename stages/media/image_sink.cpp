// image_sink: writes each image of a stream as a PNG file, with the provenance of the run in
// its text chunks (docs/provenance.md), so that generated pictures can be recognised as such.
//
//   [stages.save]
//   type = "image_sink"
//   tensor = "image"                           # [H, W, C] or a clip [N, H, W, C]; C = 1, 3, 4
//   path = "out/{stage}_{sequence:06}.png"      # folders are created
//   seed = "1234"                              # recorded; a packet's "seed" metadata wins
//   inputs.in = "decode.out"
//
// The path is a pattern with the placeholders {stage}, {sequence}, {stream}, {timestamp_us}
// and {frame} (the frame of a clip, 0 for an image), formatted the fmt way: {sequence:06} pads
// with zeros. A clip needs {frame} in the pattern, or its frames would overwrite each other.
// u8 pixels are written as they are; f32 ones are clamped to [0, 1], × 255 and rounded. Each
// file is written under a temporary name and renamed, so a reader never sees half a PNG.
#include <png.h>

#include <csetjmp>
#include <cstdio>
#include <filesystem>
#include <optional>
#include <stdexcept>
#include <system_error>

#include <fmt/format.h>

#include "stages/media/image_pixels.hpp"
#include "stages/media/provenance.hpp"
#include "stages/registry.hpp"

namespace loom {
namespace {

struct png_text_entry {
  std::string key, value;
};

struct png_error_state {
  std::jmp_buf jump;
  char message[256] = "";
};

void on_png_error(png_structp png, png_const_charp message) {
  auto* state = static_cast<png_error_state*>(png_get_error_ptr(png));
  std::snprintf(state->message, sizeof state->message, "%s", message);
  std::longjmp(state->jump, 1);
}

void on_png_warning(png_structp, png_const_charp) {}

// `utf8` as Latin-1, the encoding of tEXt chunks; none if it has characters beyond U+00FF (or is
// not UTF-8).
std::optional<std::string> latin1_of(const std::string& utf8) {
  std::string out;
  for (std::size_t i = 0; i < utf8.size(); ++i) {
    auto c = static_cast<unsigned char>(utf8[i]);
    if (c < 0x80) {
      out += static_cast<char>(c);
    } else if ((c == 0xC2 || c == 0xC3) && i + 1 < utf8.size() &&
               (static_cast<unsigned char>(utf8[i + 1]) & 0xC0) == 0x80) {
      out += static_cast<char>(((c & 0x03) << 6) | (static_cast<unsigned char>(utf8[++i]) & 0x3F));
    } else {
      return std::nullopt;
    }
  }
  return out;
}

// libpng reports errors by longjmp, so this function holds nothing that needs destroying
// between setjmp and the calls that may jump; everything it reads is prepared by the caller.
// Returns an empty string on success, else libpng's message.
std::string write_png_file(std::FILE* file, const png_byte* const* rows, int width, int height,
                           int color_type, png_text* text, int text_count) {
  png_error_state state;
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &state, on_png_error, on_png_warning);
  if (png == nullptr) return "cannot create a PNG writer";
  png_infop info = png_create_info_struct(png);
  if (info == nullptr || setjmp(state.jump) != 0) {
    png_destroy_write_struct(&png, &info);
    return state.message[0] != '\0' ? state.message : "cannot create PNG info";
  }
  png_init_io(png, file);
  png_set_IHDR(png, info, static_cast<png_uint_32>(width), static_cast<png_uint_32>(height), 8,
               color_type, PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  png_set_text(png, info, text, text_count);
  png_write_info(png, info);
  png_write_image(png, const_cast<png_bytepp>(rows));
  png_write_end(png, info);
  png_destroy_write_struct(&png, &info);
  return {};
}

void write_png(const std::filesystem::path& path, const frame_pixels& pixels,
               const pixel_layout& layout, const std::vector<png_text_entry>& entries) {
  std::vector<const png_byte*> rows(static_cast<std::size_t>(layout.height));
  for (std::size_t y = 0; y < rows.size(); ++y) rows[y] = pixels.data + y * pixels.row_bytes;
  std::vector<png_text> text(entries.size());
  std::vector<std::string> values(entries.size());
  for (std::size_t i = 0; i < entries.size(); ++i) {
    text[i] = {};
    // tEXt holds Latin-1, which FFmpeg reads back; text beyond it goes in iTXt as UTF-8.
    auto latin1 = latin1_of(entries[i].value);
    values[i] = latin1 ? *latin1 : entries[i].value;
    text[i].compression = latin1 ? PNG_TEXT_COMPRESSION_NONE : PNG_ITXT_COMPRESSION_NONE;
    text[i].key = const_cast<char*>(entries[i].key.c_str());
    text[i].text = values[i].data();
    text[i].text_length = values[i].size();
  }
  int color_type = layout.channels == 1   ? PNG_COLOR_TYPE_GRAY
                   : layout.channels == 3 ? PNG_COLOR_TYPE_RGB
                                          : PNG_COLOR_TYPE_RGB_ALPHA;
  auto temporary = path;
  temporary += ".part";
  std::FILE* file = std::fopen(temporary.c_str(), "wb");
  if (file == nullptr)
    throw std::runtime_error(fmt::format("cannot write '{}': {}", path.string(),
                                         std::error_code(errno, std::generic_category()).message()));
  auto error = write_png_file(file, rows.data(), static_cast<int>(layout.width),
                              static_cast<int>(layout.height), color_type, text.data(),
                              static_cast<int>(text.size()));
  if (std::fclose(file) != 0 && error.empty()) error = "cannot finish writing the file";
  if (!error.empty()) {
    std::filesystem::remove(temporary);
    throw std::runtime_error(fmt::format("cannot write PNG '{}': {}", path.string(), error));
  }
  std::filesystem::rename(temporary, path);
}

class image_sink final : public stage {
 public:
  void open(stage_context& ctx) override {
    const auto& p = ctx.params();
    tensor_ = p.string("tensor");
    pattern_ = p.string("path");
    try {
      format_path(ctx.name(), packet{}, 0);
    } catch (const fmt::format_error& e) {
      throw std::invalid_argument(fmt::format(
          "path \"{}\" is not a valid pattern ({}); the placeholders are {{stage}}, {{sequence}}, "
          "{{stream}}, {{timestamp_us}} and {{frame}}",
          pattern_, e.what()));
    }
    clip_safe_ = pattern_.find("{frame") != std::string::npos;
  }

  void process(stage_context& ctx) override {
    const auto& in = ctx.input();
    const auto& image = in.at(tensor_);
    auto layout = pixel_layout_of(image, tensor_);
    if (layout.frames > 1 && !clip_safe_)
      throw std::invalid_argument(fmt::format(
          "tensor '{}' is a clip of {} frames but path \"{}\" has no {{frame}} placeholder, so "
          "they would overwrite each other",
          tensor_, layout.frames, pattern_));
    auto origin = provenance_for(ctx, &in);
    std::vector<png_text_entry> text{{"Software", origin.software()},
                                     {"Creation Time", origin.created}};
    if (origin.ai_generated)
      text.push_back({"Comment", fmt::format("AI-generated by {} (graph '{}', stage '{}')",
                                             origin.software(), origin.graph, origin.stage)});
    for (auto& [key, value] : origin.tags()) text.push_back({key, value});
    for (std::int64_t f = 0; f < layout.frames; ++f) {
      std::filesystem::path path = format_path(ctx.name(), in, f);
      if (path.has_parent_path()) std::filesystem::create_directories(path.parent_path());
      write_png(path, pixels_of_frame(image, layout, f), layout, text);
    }
  }

 private:
  std::string format_path(const std::string& stage, const packet& p, std::int64_t frame) const {
    return fmt::format(fmt::runtime(pattern_), fmt::arg("stage", stage), fmt::arg("sequence", p.sequence),
                       fmt::arg("stream", p.stream_id), fmt::arg("timestamp_us", p.timestamp_us),
                       fmt::arg("frame", frame));
  }

  std::string tensor_, pattern_;
  bool clip_safe_ = false;
};

}  // namespace

stage_spec image_sink_spec() {
  stage_spec spec;
  spec.type = "image_sink";
  spec.summary = "Writes images as PNG files with provenance text chunks";
  spec.doc = R"(Writes the image tensor of every packet as a PNG file (a clip [N, H, W, C] as N
files), with the provenance of the run in text chunks: Software, Creation Time, Comment and
loom_generator, loom_version, loom_graph, loom_graph_sha256, loom_stage, loom_seed,
loom_created, loom_ai_generated (see docs/provenance.md). Folders in the path are created.

    [stages.save]
    type = "image_sink"
    tensor = "image"
    path = "out/{stage}_{sequence:06}.png"
    seed = "1234"
    inputs.in = "decode.out"

Placeholders in `path`: {stage}, {sequence}, {stream}, {timestamp_us}, {frame}; {sequence:06}
pads with zeros. u8 pixels are written as they are; f32 ones are clamped to [0, 1] and scaled.)";
  spec.inputs = {{"in", "packets with an image [H, W, C] or clip [N, H, W, C], C = 1, 3 or 4", {}}};
  spec.params = {
      string_param("tensor", "image", "name of the image tensor in each packet"),
      string_param("path", "out/{stage}_{sequence:06}.png",
                   "file name pattern: {stage}, {sequence}, {stream}, {timestamp_us}, {frame}"),
  };
  for (auto& p : provenance_params()) spec.params.push_back(std::move(p));
  spec.make = [] { return std::make_unique<image_sink>(); };
  return spec;
}

}  // namespace loom
