// Byte-level BPE as GPT-2 defined it, read from the files GPT-2 and Hugging Face publish:
// vocab.json ({"token": id, ...}) and merges.txt (an optional "#version" line, then one "a b"
// pair per line, highest priority first). Tokens are spelled in GPT-2's byte-to-unicode
// alphabet: each of the 256 bytes stands for one printable character ("Ġ" for a space).
//
// Encoding splits the text at special tokens (given whole, e.g. "<|endoftext|>"), splits the rest
// with GPT-2's pre-tokenizer and merges the bytes of each piece by rank. The vocabulary must hold
// a token for every byte (checked when the files are read), so any byte string encodes: what the
// merges do not cover stays as single-byte tokens (the byte fallback), emoji in an English
// vocabulary for instance. `decode(encode(x)) == x` for every byte string x.
//
// Not thread-safe: encoding fills a cache of merged pieces. A stage instance owns one.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace loom {

// Larger vocab.json or merges.txt files are refused before they are read; the largest published
// byte-level vocabularies take a few MiB.
constexpr std::uintmax_t max_tokenizer_file_bytes = 64 * 1024 * 1024;
// Token ids must be below this, so a hostile id cannot make decoding tables huge.
constexpr std::int64_t max_token_id = 1 << 24;

class bpe_tokenizer {
 public:
  // Reads the files; throws std::runtime_error naming the file (and line) of the first problem:
  // invalid JSON, a duplicate token or id, a merge of tokens not in the vocabulary, a byte with
  // no token, a special token not in the vocabulary, a file too large.
  bpe_tokenizer(const std::filesystem::path& vocab, const std::filesystem::path& merges,
                const std::vector<std::string>& special_tokens = {});

  // Appends the ids of `text` (any bytes) to `ids`.
  void encode(std::string_view text, std::vector<std::int64_t>& ids);
  std::vector<std::int64_t> encode(std::string_view text);

  // The bytes the ids stand for; throws std::out_of_range for an id not in the vocabulary.
  std::string decode(std::span<const std::int64_t> ids) const;

  // The id of a token as vocab.json spells it ("Ġthe", "<|endoftext|>").
  std::optional<std::int64_t> find(std::string_view token) const;
  std::size_t size() const { return ids_.size(); }

 private:
  struct merge {
    std::int32_t rank;
    std::int32_t result;
  };
  struct string_hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  using token_map = std::unordered_map<std::string, std::int32_t, string_hash, std::equal_to<>>;

  void read_vocab(const std::filesystem::path& file);
  void read_merges(const std::filesystem::path& file);
  void encode_plain(std::string_view text, std::vector<std::int64_t>& ids);
  void encode_piece(std::string_view piece, std::vector<std::int64_t>& ids);
  void merge_bytes(std::string_view piece, std::vector<std::int32_t>& out);

  token_map ids_;                                     // token as spelled in vocab.json -> id
  std::vector<std::optional<std::string>> bytes_of_;  // id -> the bytes it decodes to
  std::int32_t byte_ids_[256] = {};
  std::unordered_map<std::uint64_t, merge> merges_;  // (left id, right id) -> rank and result
  std::vector<std::pair<std::string, std::int32_t>> specials_;
  std::unordered_map<std::string, std::vector<std::int32_t>, string_hash, std::equal_to<>> cache_;
  std::vector<std::string_view> pieces_;  // scratch, reused across calls
};

}  // namespace loom
