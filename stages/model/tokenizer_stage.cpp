// tokenizer: turns text into token ids with GPT-2's byte-level BPE, read from the vocab.json and
// merges.txt files GPT-2 and Hugging Face models publish; the first stage of a text encoder.
//
//   [stages.tokens]
//   type = "tokenizer"
//   vocab = "models/gpt2/vocab.json"    # relative paths: against the graph file's directory
//   merges = "models/gpt2/merges.txt"
//   special_tokens = ["<|endoftext|>"] # recognised whole in the text
//   bos = ""                           # a token to put first; "": none
//   eos = "<|endoftext|>"              # a token to put last; "": none
//   max_tokens = 77                    # longer texts are cut (bos and eos kept); 0: no limit
//   inputs.in = "prompts.out"
//
// The input's tensor "text" holds UTF-8 bytes as u8 [len] (what text_source emits); any bytes
// encode, valid UTF-8 or not. The output holds "tokens", i64 [n], and the input's metadata; a
// cut text also gets metadata "truncated_tokens" with how many tokens were dropped. Problems
// with the files fail `open`, naming the file and line.
#include <fmt/format.h>

#include <cstring>
#include <filesystem>
#include <memory>
#include <stdexcept>

#include "stages/model/bpe_tokenizer.hpp"
#include "stages/input_path.hpp"
#include "stages/registry.hpp"

namespace loom {
namespace {

const tensor& text_tensor(const packet& p) {
  const tensor& text = p.at("text");
  if (text.type() != dtype::u8 || text.rank() != 1 || !text.is_contiguous())
    throw std::invalid_argument(
        fmt::format("the input \"text\" must be contiguous u8 [len] (UTF-8 bytes), got {} {}",
                    name_of(text.type()), to_string(text.shape())));
  return text;
}

class tokenizer final : public stage {
 public:
  void open(stage_context& ctx) override {
    const auto& p = ctx.params();
    tokenizer_ = std::make_unique<bpe_tokenizer>(input_path(p.string("vocab"), ctx.run()),
                                                 input_path(p.string("merges"), ctx.run()),
                                                 p.strings("special_tokens"));
    bos_ = token(p, "bos");
    eos_ = token(p, "eos");
    max_tokens_ = static_cast<std::size_t>(p.integer("max_tokens"));
    const std::size_t framing = (bos_ ? 1 : 0) + (eos_ ? 1 : 0);
    if (max_tokens_ > 0 && max_tokens_ <= framing)
      throw std::invalid_argument(
          fmt::format("max_tokens = {} leaves no room for text between bos and eos", max_tokens_));
  }

  void process(stage_context& ctx) override {
    const tensor& text = text_tensor(ctx.input());
    ids_.clear();
    if (bos_) ids_.push_back(*bos_);
    tokenizer_->encode({reinterpret_cast<const char*>(text.raw()), text.nbytes()}, ids_);
    const std::size_t total = ids_.size() + (eos_ ? 1 : 0);
    std::size_t cut = 0;
    if (max_tokens_ > 0 && total > max_tokens_) {
      cut = total - max_tokens_;
      ids_.resize(ids_.size() - cut);
      note_truncation(ctx, total, cut);
    }
    if (eos_) ids_.push_back(*eos_);

    auto memory = buffer::allocate(ids_.size() * sizeof(std::int64_t));
    std::memcpy(memory.data(), ids_.data(), memory.size());
    packet out = ctx.input().derive();
    if (cut > 0) out.metadata.emplace_back("truncated_tokens", std::to_string(cut));
    out.tensors.push_back({"tokens", tensor(dtype::i64, {static_cast<std::int64_t>(ids_.size())},
                                            std::move(memory))});
    ctx.emit("out", std::move(out));
  }

  void close(stage_context& ctx) override {
    if (truncated_texts_ > 1)
      ctx.log(fmt::format("cut {} texts to max_tokens = {}, dropping {} tokens in all",
                          truncated_texts_, max_tokens_, dropped_tokens_));
  }

 private:
  std::optional<std::int64_t> token(const param_values& p, std::string_view key) const {
    const auto& spelled = p.string(key);
    if (spelled.empty()) return std::nullopt;
    auto id = tokenizer_->find(spelled);
    if (!id)
      throw std::invalid_argument(
          fmt::format("{} = \"{}\" is not a token of the vocabulary", key, spelled));
    return id;
  }

  // The first cut is logged at once; the rest are summed up at close, so a stream of long
  // texts does not flood the log.
  void note_truncation(stage_context& ctx, std::size_t total, std::size_t cut) {
    if (truncated_texts_++ == 0)
      ctx.log(
          fmt::format("cut a text of {} tokens to max_tokens = {} (packet {}); further cuts "
                      "are counted and reported at the end",
                      total, max_tokens_, ctx.input().sequence));
    dropped_tokens_ += cut;
  }

  std::unique_ptr<bpe_tokenizer> tokenizer_;
  std::optional<std::int64_t> bos_, eos_;
  std::size_t max_tokens_ = 0;
  std::vector<std::int64_t> ids_;
  std::uint64_t truncated_texts_ = 0, dropped_tokens_ = 0;
};

}  // namespace

stage_spec tokenizer_spec() {
  stage_spec spec;
  spec.type = "tokenizer";
  spec.summary = "Text to token ids with GPT-2's byte-level BPE (vocab.json + merges.txt)";
  spec.doc = R"(Encodes the UTF-8 bytes of each input's "text" tensor into token ids, i64 [n] in
"tokens", with GPT-2's byte-level BPE read from vocab.json and merges.txt. Every byte has a
token, so any text encodes; `special_tokens` are recognised whole in the text. `bos` and `eos`
put a token first and last; `max_tokens` cuts longer texts (keeping bos and eos), logs the
first cut and adds metadata "truncated_tokens". Relative paths resolve against the graph file's
directory.

    [stages.tokens]
    type = "tokenizer"
    vocab = "models/gpt2/vocab.json"
    merges = "models/gpt2/merges.txt"
    special_tokens = ["<|endoftext|>"]
    eos = "<|endoftext|>"
    max_tokens = 77
    inputs.in = "prompts.out")";
  spec.inputs = {{"in", "\"text\" u8 [len]: UTF-8 bytes", {dtype::u8, 1}}};
  spec.outputs = {{"out", "\"tokens\" i64 [n], the input's metadata", {dtype::i64, 1}}};
  spec.params = {
      string_param("vocab", std::nullopt, "vocab.json: {\"token\": id, ...}"),
      string_param("merges", std::nullopt, "merges.txt: one \"a b\" merge per line, by priority"),
      param_spec{"special_tokens",
                 param_type::string_list,
                 std::vector<std::string>{},
                 "tokens of the vocabulary recognised whole in the text (\"<|endoftext|>\")",
                 {},
                 {},
                 {}},
      string_param("bos", "", "a token to put before the text; \"\": none"),
      string_param("eos", "", "a token to put after the text; \"\": none"),
      integer_param("max_tokens", 0, "the most tokens per text, bos and eos included; 0: no limit",
                    0),
  };
  spec.device_kinds = {"cpu"};
  spec.make = [] { return std::make_unique<tokenizer>(); };
  spec.infer = [](const param_values&, const std::vector<port_type>&) {
    return std::vector<port_type>{{dtype::i64, 1, std::nullopt}};
  };
  return spec;
}

}  // namespace loom
