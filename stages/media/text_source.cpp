// text_source: emits prompts, one packet each, from a list, a file or standard input.
//
//   [stages.prompts]
//   type = "text_source"
//   prompts = ["a red car", "a dog on a beach"]
//   file = "prompts.txt"     # one prompt per line; blank lines are skipped; relative: against
//                            # the graph file's directory
//   stdin = false            # true: then read lines from standard input until it closes
//
// Order: `prompts`, then the lines of `file`, then standard input. Every packet holds the tensor
// "text", the prompt's UTF-8 bytes as u8 [len], and metadata "text" with the prompt itself.
// Sequence numbers run from 0; `timestamp_us` is the time the packet was made (steady clock).
// A relative `file` is found against the directory of the graph file (input_path.hpp), so a graph
// and its prompts move together. A missing `file` fails `open` ("stage 'NAME' (text_source)
// failed to open: ..."). Reading standard input waits for each line: end the input (or close it)
// to end the stream.
#include <cstring>
#include <fstream>
#include <iostream>
#include <stdexcept>

#include <fmt/format.h>

#include "stages/input_path.hpp"
#include "stages/registry.hpp"

namespace loom {
namespace {

void strip_line_end(std::string& line) {
  while (!line.empty() && (line.back() == '\r' || line.back() == '\n')) line.pop_back();
}

class text_source final : public stage {
 public:
  void open(stage_context& ctx) override {
    const auto& p = ctx.params();
    prompts_ = p.strings("prompts");
    stream_id_ = static_cast<std::uint64_t>(p.integer("stream_id"));
    if (const auto file = input_path(p.string("file"), ctx.run()); !file.empty()) {
      std::ifstream in(file);
      if (!in)
        throw std::runtime_error(
            fmt::format("cannot read prompts from '{}': {}", file, std::strerror(errno)));
      for (std::string line; std::getline(in, line);) {
        strip_line_end(line);
        if (!line.empty()) prompts_.push_back(std::move(line));
      }
    }
    stdin_ = p.boolean("stdin");
  }

  void process(stage_context& ctx) override {
    if (ctx.stop_requested()) return ctx.finish();
    if (next_ < prompts_.size()) return emit(ctx, prompts_[next_++]);
    if (stdin_) {
      for (std::string line; std::getline(std::cin, line);) {
        strip_line_end(line);
        if (!line.empty()) return emit(ctx, line);
      }
    }
    ctx.finish();
  }

 private:
  void emit(stage_context& ctx, const std::string& text) {
    auto memory = buffer::allocate(text.size());
    std::memcpy(memory.data(), text.data(), text.size());
    packet p;
    p.stream_id = stream_id_;
    p.sequence = sequence_++;
    p.created_ns = steady_now_ns();
    p.timestamp_us = p.created_ns / 1000;
    p.tensors.push_back(
        {"text", tensor(dtype::u8, {static_cast<std::int64_t>(text.size())}, std::move(memory))});
    p.metadata.emplace_back("text", text);
    ctx.emit("out", std::move(p));
  }

  std::vector<std::string> prompts_;
  std::size_t next_ = 0;
  std::uint64_t sequence_ = 0, stream_id_ = 0;
  bool stdin_ = false;
};

}  // namespace

stage_spec text_source_spec() {
  stage_spec spec;
  spec.type = "text_source";
  spec.summary = "Emits prompts from a list, a file or standard input";
  spec.doc = R"(Emits one packet per prompt: `prompts`, then the non-blank lines of `file`, then
the non-blank lines of standard input when `stdin = true`. A relative `file` is found against
the graph file's directory. Each packet holds "text", the UTF-8 bytes as u8 [len], and metadata
"text", the prompt.

    [stages.prompts]
    type = "text_source"
    prompts = ["a red car", "a dog on a beach"]
    file = "more_prompts.txt")";
  spec.outputs = {{"out", "\"text\" u8 [len] per prompt, metadata \"text\"", {dtype::u8, 1}}};
  spec.params = {
      param_spec{"prompts",
                 param_type::string_list,
                 std::vector<std::string>{},
                 "prompts to emit first",
                 {},
                 {},
                 {}},
      string_param("file", "", "a file with one prompt per line; empty: none"),
      boolean_param("stdin", false, "read further prompts from standard input, one per line"),
      integer_param("stream_id", 0, "stream id stamped on every packet", 0),
  };
  spec.make = [] { return std::make_unique<text_source>(); };
  return spec;
}

}  // namespace loom
