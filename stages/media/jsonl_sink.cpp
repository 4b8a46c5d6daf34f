// jsonl_sink: writes one JSON object per packet per line — stream, sequence, timestamp,
// metadata, a summary of each tensor, and the text of a u8 tensor called "text" — after a
// first line that holds the provenance of the run (docs/provenance.md). Each line is flushed
// as it is written, so the file can be followed while the graph runs.
//
//   [stages.log]
//   type = "jsonl_sink"
//   path = "out/captions.jsonl"   # folders are created; the file is replaced
//   text = "text"                 # u8 tensor whose bytes are UTF-8 text
//   inputs.in = "caption.out"
//
// The lines:
//
//   {"provenance": {"loom_generator": "loom", "loom_version": "0.1.0", ...}}
//   {"stream": 0, "sequence": 0, "timestamp_us": 0, "metadata": {"seed": "7"},
//    "tensors": [{"name": "text", "dtype": "u8", "shape": [5]}], "text": "hello"}
//
// Bytes of the text tensor that are not valid UTF-8 are written as U+FFFD. A restart after
// errors (`restart` in the graph) starts the file again.
#include <cstdio>
#include <filesystem>
#include <stdexcept>
#include <system_error>
#include <utility>

#include <fmt/format.h>

#include "stages/media/provenance.hpp"
#include "stages/json_text.hpp"
#include "stages/registry.hpp"

namespace loom {
namespace {

std::string json_object(const std::vector<std::pair<std::string, std::string>>& fields) {
  std::string out = "{";
  for (const auto& [key, value] : fields)
    out += fmt::format("{}{}: {}", out.size() > 1 ? ", " : "", json_string(key), json_string(value));
  return out + "}";
}

class jsonl_sink final : public stage {
 public:
  ~jsonl_sink() override {
    if (file_ != nullptr) std::fclose(file_);
  }

  void open(stage_context& ctx) override {
    path_ = ctx.params().string("path");
    text_ = ctx.params().string("text");
    std::filesystem::path path(path_);
    if (path.has_parent_path()) std::filesystem::create_directories(path.parent_path());
    file_ = std::fopen(path_.c_str(), "w");
    if (file_ == nullptr)
      throw std::runtime_error(fmt::format("cannot write '{}': {}", path_,
                                           std::error_code(errno, std::generic_category()).message()));
    write_line(fmt::format("{{\"provenance\": {}}}", json_object(provenance_for(ctx).tags())));
  }

  void process(stage_context& ctx) override {
    const auto& in = ctx.input();
    std::string tensors;
    const std::string* text = nullptr;
    std::string text_value;
    for (const auto& [name, value] : in.tensors) {
      std::string shape;
      for (auto d : value.shape()) shape += fmt::format("{}{}", shape.empty() ? "" : ", ", d);
      tensors += fmt::format("{}{{\"name\": {}, \"dtype\": \"{}\", \"shape\": [{}]}}",
                             tensors.empty() ? "" : ", ", json_string(name), name_of(value.type()), shape);
      if (name == text_ && value.type() == dtype::u8 && value.rank() == 1 && value.device() == "cpu" &&
          value.is_contiguous()) {
        text_value.assign(reinterpret_cast<const char*>(value.raw()), static_cast<std::size_t>(value.numel()));
        text = &text_value;
      }
    }
    auto line = fmt::format(
        "{{\"stream\": {}, \"sequence\": {}, \"timestamp_us\": {}, \"metadata\": {}, \"tensors\": [{}]",
        in.stream_id, in.sequence, in.timestamp_us, json_object(in.metadata), tensors);
    if (text != nullptr) line += fmt::format(", \"text\": {}", json_string(*text));
    write_line(line + "}");
  }

  void close(stage_context&) override {
    if (file_ != nullptr && std::fclose(std::exchange(file_, nullptr)) != 0)
      throw std::runtime_error(fmt::format("cannot finish '{}'", path_));
  }

 private:
  void write_line(const std::string& line) {
    if (std::fwrite(line.data(), 1, line.size(), file_) != line.size() || std::fputc('\n', file_) == EOF ||
        std::fflush(file_) != 0)
      throw std::runtime_error(fmt::format("cannot write to '{}': {}", path_,
                                           std::error_code(errno, std::generic_category()).message()));
  }

  std::string path_, text_;
  std::FILE* file_ = nullptr;
};

}  // namespace

stage_spec jsonl_sink_spec() {
  stage_spec spec;
  spec.type = "jsonl_sink";
  spec.summary = "Writes packets as JSON lines: metadata, tensor summaries, text, provenance";
  spec.doc = R"(Writes one JSON object per packet per line: stream, sequence, timestamp_us,
metadata (every key and value), tensors (name, dtype, shape) and, for a 1-D u8 tensor named by
`text`, its UTF-8 text. The first line is {"provenance": {...}} with the fields of
docs/provenance.md. Every line is flushed as it is written; the file is replaced.

    [stages.log]
    type = "jsonl_sink"
    path = "out/captions.jsonl"
    text = "text"
    inputs.in = "caption.out")";
  spec.inputs = {{"in", "any packet", {}}};
  spec.params = {
      string_param("path", std::nullopt, "the JSON lines file; folders are created"),
      string_param("text", "text", "1-D u8 tensor written as UTF-8 text under \"text\""),
  };
  for (auto& p : provenance_params()) spec.params.push_back(std::move(p));
  spec.make = [] { return std::make_unique<jsonl_sink>(); };
  return spec;
}

}  // namespace loom
