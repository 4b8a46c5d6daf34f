// Byte-level BPE: reading GPT-2's vocab.json and merges.txt, checking them, and encoding by merge
// rank. The merge loop keeps the piece's symbols in a linked list and candidate pairs in a heap,
// so a long piece (a run of letters with no space) costs n log n, not the n² of GPT-2's
// reference loop; both give the same tokens when every merge's parts come from bytes or earlier
// merges, which is how BPE training writes merges.txt.
#include "stages/model/bpe_tokenizer.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <queue>
#include <stdexcept>

#include "stages/model/gpt2_pretokenizer.hpp"
#include "stages/model/unicode_classes.hpp"

namespace loom {
namespace {

// GPT-2's byte-to-unicode table: printable Latin-1 bytes stand for themselves, the other 68 for
// U+0100 onwards, in byte order.
struct byte_alphabet {
  char32_t char_of[256];
  std::unordered_map<char32_t, unsigned char> byte_of;

  byte_alphabet() {
    auto printable = [](unsigned b) {
      return (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
    };
    char32_t next_extra = 256;
    for (unsigned b = 0; b < 256; ++b) {
      char_of[b] = printable(b) ? b : next_extra++;
      byte_of.emplace(char_of[b], static_cast<unsigned char>(b));
    }
  }
};

const byte_alphabet& alphabet() {
  static const byte_alphabet table;
  return table;
}

std::string spelling_of_byte(unsigned char b) {
  std::string s;
  append_utf8(s, alphabet().char_of[b]);
  return s;
}

// The bytes a token spelled in the byte alphabet stands for; none when it has a character
// outside the alphabet (an added token such as "<| pad |>", which then stands for itself).
std::optional<std::string> bytes_of_spelling(std::string_view token) {
  std::string bytes;
  for (std::size_t at = 0; at < token.size();) {
    auto c = next_utf8(token, at);
    auto found = alphabet().byte_of.find(c.code_point);
    if (!c.valid || found == alphabet().byte_of.end()) return std::nullopt;
    bytes += static_cast<char>(found->second);
    at += c.length;
  }
  return bytes;
}

std::string read_file(const std::filesystem::path& file) {
  std::error_code ec;
  const auto size = std::filesystem::file_size(file, ec);
  if (ec)
    throw std::runtime_error(fmt::format("{}: cannot read file: {}", file.string(), ec.message()));
  if (size > max_tokenizer_file_bytes)
    throw std::runtime_error(fmt::format(
        "{}: file is {:.1f} MiB; tokenizer files are limited to {} MiB", file.string(),
        static_cast<double>(size) / (1024.0 * 1024.0), max_tokenizer_file_bytes / (1024 * 1024)));
  std::ifstream in(file, std::ios::binary);
  std::string text(static_cast<std::size_t>(size), '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  if (!in || static_cast<std::size_t>(in.gcount()) != text.size())
    throw std::runtime_error(
        fmt::format("{}: cannot read file: {}", file.string(),
                    in ? "it changed while being read" : std::strerror(errno)));
  return text;
}

// Merged pieces kept for reuse; a full cache starts again rather than growing without bound.
constexpr std::size_t cache_entries = 1 << 16;
// Longer pieces rarely repeat, and are not cached.
constexpr std::size_t cached_piece_bytes = 256;

std::uint64_t pair_key(std::int32_t left, std::int32_t right) {
  return (static_cast<std::uint64_t>(static_cast<std::uint32_t>(left)) << 32) |
         static_cast<std::uint32_t>(right);
}

// vocab.json: one JSON object of strings to non-negative integers, read strictly, with the
// line and column of every error.
class vocab_reader {
 public:
  struct entry {
    std::string token;
    std::int64_t id;
    int line;
  };

  vocab_reader(std::string_view text, std::string file) : text_(text), file_(std::move(file)) {}

  std::vector<entry> read() {
    std::vector<entry> entries;
    skip_space();
    expect('{', "a JSON object of tokens to ids");
    skip_space();
    if (peek() == '}') fail("the vocabulary is empty");
    for (;;) {
      const int line = line_;
      std::string token = string();
      skip_space();
      expect(':', "':' after a token");
      skip_space();
      entries.push_back({std::move(token), id(), line});
      skip_space();
      if (peek() == ',') {
        ++at_;
        skip_space();
        continue;
      }
      expect('}', "',' or '}' after an id");
      break;
    }
    skip_space();
    if (at_ < text_.size()) fail("unexpected text after the vocabulary's closing '}'");
    return entries;
  }

  [[noreturn]] void fail(std::string_view message) const {
    throw std::runtime_error(
        fmt::format("{}:{}:{}: {}", file_, line_, at_ - line_start_ + 1, message));
  }

 private:
  char peek() const { return at_ < text_.size() ? text_[at_] : '\0'; }

  void expect(char c, std::string_view what) {
    if (at_ >= text_.size()) fail(fmt::format("the file ends where {} should be", what));
    if (text_[at_] != c) fail(fmt::format("expected {}", what));
    ++at_;
  }

  void skip_space() {
    for (; at_ < text_.size(); ++at_) {
      const char c = text_[at_];
      if (c == '\n') {
        ++line_;
        line_start_ = at_ + 1;
      } else if (c != ' ' && c != '\t' && c != '\r') {
        return;
      }
    }
  }

  std::string string() {
    expect('"', "a token in double quotes");
    std::string out;
    for (;;) {
      if (at_ >= text_.size()) fail("the file ends inside a string");
      const char c = text_[at_];
      if (c == '"') {
        ++at_;
        return out;
      }
      if (static_cast<unsigned char>(c) < 0x20) fail("a control character inside a string");
      if (c == '\\') {
        escape(out);
        continue;
      }
      auto decoded = next_utf8(text_, at_);
      if (!decoded.valid) fail("a string is not valid UTF-8");
      out.append(text_.substr(at_, decoded.length));
      at_ += decoded.length;
    }
  }

  void escape(std::string& out) {
    ++at_;
    const char c = peek();
    ++at_;
    switch (c) {
      case '"': out += '"'; return;
      case '\\': out += '\\'; return;
      case '/': out += '/'; return;
      case 'b': out += '\b'; return;
      case 'f': out += '\f'; return;
      case 'n': out += '\n'; return;
      case 'r': out += '\r'; return;
      case 't': out += '\t'; return;
      case 'u': break;
      default: --at_; fail("an unknown escape in a string");
    }
    char32_t code = hex4();
    if (code >= 0xD800 && code <= 0xDBFF) {
      if (text_.substr(at_, 2) != "\\u") fail("a high surrogate without its low half");
      at_ += 2;
      const char32_t low = hex4();
      if (low < 0xDC00 || low > 0xDFFF) fail("a high surrogate without its low half");
      code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00);
    } else if (code >= 0xDC00 && code <= 0xDFFF) {
      fail("a low surrogate without its high half");
    }
    append_utf8(out, code);
  }

  char32_t hex4() {
    char32_t value = 0;
    for (int i = 0; i < 4; ++i, ++at_) {
      const char c = peek();
      const int digit = c >= '0' && c <= '9'   ? c - '0'
                        : c >= 'a' && c <= 'f' ? c - 'a' + 10
                        : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                               : -1;
      if (digit < 0) fail("\\u needs four hexadecimal digits");
      value = value * 16 + static_cast<char32_t>(digit);
    }
    return value;
  }

  std::int64_t id() {
    if (peek() == '-') fail("ids must not be negative");
    if (peek() < '0' || peek() > '9') fail("expected an integer id");
    std::int64_t value = 0;
    for (; peek() >= '0' && peek() <= '9'; ++at_) {
      value = value * 10 + (peek() - '0');
      if (value >= max_token_id) fail(fmt::format("ids must be below {}", max_token_id));
    }
    if (peek() == '.' || peek() == 'e' || peek() == 'E') fail("ids must be integers");
    return value;
  }

  std::string_view text_;
  std::string file_;
  std::size_t at_ = 0, line_start_ = 0;
  int line_ = 1;
};

}  // namespace

bpe_tokenizer::bpe_tokenizer(const std::filesystem::path& vocab,
                             const std::filesystem::path& merges,
                             const std::vector<std::string>& special_tokens) {
  read_vocab(vocab);
  read_merges(merges);
  for (const auto& token : special_tokens) {
    auto id = find(token);
    if (!id)
      throw std::runtime_error(fmt::format("{}: the special token \"{}\" is not in the vocabulary",
                                           vocab.string(), token));
    // A special token decodes to itself, not to what its characters stand for in the alphabet.
    bytes_of_[static_cast<std::size_t>(*id)] = token;
    specials_.emplace_back(token, static_cast<std::int32_t>(*id));
  }
}

void bpe_tokenizer::read_vocab(const std::filesystem::path& file) {
  const auto text = read_file(file);
  vocab_reader reader(text, file.string());
  auto entries = reader.read();
  std::int64_t largest = 0;
  for (const auto& e : entries) largest = std::max(largest, e.id);
  bytes_of_.assign(static_cast<std::size_t>(largest) + 1, std::nullopt);
  std::vector<int> line_of_id(bytes_of_.size(), 0);
  for (auto& e : entries) {
    auto& seen = line_of_id[static_cast<std::size_t>(e.id)];
    if (seen != 0)
      throw std::runtime_error(fmt::format("{}:{}: id {} of \"{}\" is already taken on line {}",
                                           file.string(), e.line, e.id, e.token, seen));
    seen = e.line;
    auto [where, added] = ids_.emplace(e.token, static_cast<std::int32_t>(e.id));
    if (!added)
      throw std::runtime_error(
          fmt::format("{}:{}: the token \"{}\" appears twice (first with id {})", file.string(),
                      e.line, e.token, where->second));
    bytes_of_[static_cast<std::size_t>(e.id)] = bytes_of_spelling(e.token).value_or(e.token);
  }
  for (unsigned b = 0; b < 256; ++b) {
    auto found = ids_.find(spelling_of_byte(static_cast<unsigned char>(b)));
    if (found == ids_.end())
      throw std::runtime_error(fmt::format(
          "{}: no token for byte 0x{:02X} (\"{}\"); byte-level BPE needs one for each of the 256 "
          "bytes",
          file.string(), b, spelling_of_byte(static_cast<unsigned char>(b))));
    byte_ids_[b] = found->second;
  }
}

void bpe_tokenizer::read_merges(const std::filesystem::path& file) {
  const auto text = read_file(file);
  std::unordered_map<std::uint64_t, int> line_of_merge;
  std::size_t line_start = 0;
  for (int line = 1; line_start < text.size(); ++line) {
    auto line_end = text.find('\n', line_start);
    if (line_end == std::string::npos) line_end = text.size();
    std::string_view row(text.data() + line_start, line_end - line_start);
    line_start = line_end + 1;
    if (!row.empty() && row.back() == '\r') row.remove_suffix(1);
    if (row.empty() || (line == 1 && row.starts_with("#version"))) continue;
    const auto where = [&] { return fmt::format("{}:{}", file.string(), line); };
    const auto space = row.find(' ');
    if (space == 0 || space == std::string_view::npos || space + 1 == row.size() ||
        row.find(' ', space + 1) != std::string_view::npos)
      throw std::runtime_error(
          fmt::format("{}: expected two tokens separated by one space, got \"{}\"", where(), row));
    const auto left = row.substr(0, space), right = row.substr(space + 1);
    const auto id_of = [&](std::string_view token) {
      auto found = ids_.find(token);
      if (found == ids_.end())
        throw std::runtime_error(
            fmt::format("{}: \"{}\" is not in the vocabulary", where(), token));
      return found->second;
    };
    const auto left_id = id_of(left), right_id = id_of(right);
    const auto merged = ids_.find(fmt::format("{}{}", left, right));
    if (merged == ids_.end())
      throw std::runtime_error(
          fmt::format("{}: the merge of \"{}\" and \"{}\", \"{}{}\", is not in the vocabulary",
                      where(), left, right, left, right));
    const auto key = pair_key(left_id, right_id);
    if (auto [first, added] = line_of_merge.emplace(key, line); !added)
      throw std::runtime_error(
          fmt::format("{}: \"{}\" repeats the merge on line {}", where(), row, first->second));
    merges_.emplace(key, merge{static_cast<std::int32_t>(merges_.size()), merged->second});
  }
}

std::optional<std::int64_t> bpe_tokenizer::find(std::string_view token) const {
  auto found = ids_.find(token);
  if (found == ids_.end()) return std::nullopt;
  return found->second;
}

std::vector<std::int64_t> bpe_tokenizer::encode(std::string_view text) {
  std::vector<std::int64_t> ids;
  encode(text, ids);
  return ids;
}

void bpe_tokenizer::encode(std::string_view text, std::vector<std::int64_t>& ids) {
  if (specials_.empty()) return encode_plain(text, ids);
  // Where each special token occurs next, found again only once the text has passed it, so a
  // text with many special tokens is still scanned a bounded number of times.
  std::vector<std::size_t> next;
  for (const auto& special : specials_) next.push_back(text.find(special.first));
  std::size_t at = 0;
  for (;;) {
    std::size_t best = specials_.size();
    for (std::size_t s = 0; s < specials_.size(); ++s) {
      if (next[s] != std::string_view::npos && next[s] < at)
        next[s] = text.find(specials_[s].first, at);
      if (next[s] == std::string_view::npos) continue;
      // The earliest wins; on a tie, the longer token ("<|a|>x" over "<|a|>").
      if (best == specials_.size() || next[s] < next[best] ||
          (next[s] == next[best] && specials_[s].first.size() > specials_[best].first.size()))
        best = s;
    }
    if (best == specials_.size()) return encode_plain(text.substr(at), ids);
    encode_plain(text.substr(at, next[best] - at), ids);
    ids.push_back(specials_[best].second);
    at = next[best] + specials_[best].first.size();
  }
}

void bpe_tokenizer::encode_plain(std::string_view text, std::vector<std::int64_t>& ids) {
  pieces_.clear();
  gpt2_pretokenize(text, pieces_);
  for (auto piece : pieces_) encode_piece(piece, ids);
}

void bpe_tokenizer::encode_piece(std::string_view piece, std::vector<std::int64_t>& ids) {
  if (piece.size() == 1) {
    ids.push_back(byte_ids_[static_cast<unsigned char>(piece[0])]);
    return;
  }
  // Words repeat (Zipf): most pieces of a long text are merged once and then looked up.
  if (auto cached = cache_.find(piece); cached != cache_.end()) {
    ids.insert(ids.end(), cached->second.begin(), cached->second.end());
    return;
  }
  std::vector<std::int32_t> merged;
  merge_bytes(piece, merged);
  ids.insert(ids.end(), merged.begin(), merged.end());
  if (piece.size() > cached_piece_bytes) return;
  if (cache_.size() >= cache_entries) cache_.clear();
  cache_.emplace(piece, std::move(merged));
}

void bpe_tokenizer::merge_bytes(std::string_view piece, std::vector<std::int32_t>& out) {
  struct symbol {
    std::int32_t id;
    std::int32_t prev, next;  // -1: none
  };
  struct candidate {
    std::int32_t rank;
    std::int32_t left;  // position of the left symbol
    std::int32_t left_id, right_id, result;
    bool operator>(const candidate& o) const {
      return rank != o.rank ? rank > o.rank : left > o.left;
    }
  };
  const auto n = static_cast<std::int32_t>(piece.size());
  std::vector<symbol> symbols(piece.size());
  for (std::int32_t i = 0; i < n; ++i)
    symbols[i] = {byte_ids_[static_cast<unsigned char>(piece[i])], i - 1, i + 1 < n ? i + 1 : -1};

  // Lowest rank first; among equal ranks (the same pair) the leftmost, as GPT-2 merges them.
  std::priority_queue<candidate, std::vector<candidate>, std::greater<>> heap;
  const auto consider = [&](std::int32_t left) {
    if (left < 0 || symbols[left].next < 0) return;
    const auto l = symbols[left].id, r = symbols[symbols[left].next].id;
    if (auto found = merges_.find(pair_key(l, r)); found != merges_.end())
      heap.push({found->second.rank, left, l, r, found->second.result});
  };
  for (std::int32_t i = 0; i + 1 < n; ++i) consider(i);

  while (!heap.empty()) {
    const auto c = heap.top();
    heap.pop();
    auto& left = symbols[c.left];
    // A candidate is stale once either side took part in another merge.
    if (left.id != c.left_id || left.next < 0 || symbols[left.next].id != c.right_id) continue;
    const auto right = left.next;
    left.id = c.result;
    left.next = symbols[right].next;
    if (left.next >= 0) symbols[left.next].prev = c.left;
    symbols[right].id = -1;
    consider(left.prev);
    consider(c.left);
  }
  for (std::int32_t i = 0; i >= 0; i = symbols[i].next) out.push_back(symbols[i].id);
}

std::string bpe_tokenizer::decode(std::span<const std::int64_t> ids) const {
  std::string text;
  for (auto id : ids) {
    if (id < 0 || static_cast<std::uint64_t>(id) >= bytes_of_.size() ||
        !bytes_of_[static_cast<std::size_t>(id)])
      throw std::out_of_range(fmt::format("token id {} is not in the vocabulary", id));
    text += *bytes_of_[static_cast<std::size_t>(id)];
  }
  return text;
}

}  // namespace loom
