// The tokenizer: byte-level BPE against the ids of the Python reference
// (tools/reference/make_tokenizer_goldens.py), the pre-tokenizer's Unicode classes, round trips
// of any bytes, special tokens, every error a hostile vocab.json or merges.txt gets, and the
// `tokenizer` stage by hand and in a graph.
#include <fmt/format.h>

#include <algorithm>
#include <boost/test/unit_test.hpp>
#include <cstring>
#include <fstream>
#include <map>
#include <random>
#include <sstream>

#include "ingest_fixture.hpp"
#include "stages/model/bpe_tokenizer.hpp"
#include "stages/model/gpt2_pretokenizer.hpp"

using namespace loom;
using loom::test::ingest_fixture;

namespace {

const std::string fixture_dir = LOOM_SOURCE_DIR "/tests/model/tokenizer";
const std::string fixture_vocab = fixture_dir + "/vocab.json";
const std::string fixture_merges = fixture_dir + "/merges.txt";
const std::vector<std::string> fixture_specials = {"<|endoftext|>", "<|pad|>"};

struct golden {
  std::string name, text;
  std::vector<std::int64_t> ids;
};

std::string from_hex(const std::string& hex) {
  std::string bytes;
  for (std::size_t i = 0; i + 1 < hex.size(); i += 2)
    bytes += static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16));
  return bytes;
}

std::vector<golden> read_goldens() {
  std::ifstream in(fixture_dir + "/goldens.tsv");
  std::vector<golden> out;
  for (std::string line; std::getline(in, line);) {
    if (line.starts_with("#")) continue;
    std::istringstream fields(line);
    golden g;
    std::string hex, ids;
    std::getline(fields, g.name, '\t');
    std::getline(fields, hex, '\t');
    std::getline(fields, ids);
    g.text = from_hex(hex);
    std::istringstream numbers(ids);
    for (std::int64_t id; numbers >> id;) g.ids.push_back(id);
    out.push_back(std::move(g));
  }
  return out;
}

bpe_tokenizer fixture_tokenizer() {
  return bpe_tokenizer(fixture_vocab, fixture_merges, fixture_specials);
}

std::vector<std::string> pieces_of(std::string_view text) {
  std::vector<std::string_view> views;
  gpt2_pretokenize(text, views);
  return {views.begin(), views.end()};
}

// GPT-2's spelling of a byte, for writing small vocabularies by hand.
std::string spelled(unsigned char b) {
  static const std::vector<std::string> table = [] {
    std::vector<std::string> t;
    char32_t extra = 256;
    for (unsigned c = 0; c < 256; ++c) {
      bool printable = (c >= '!' && c <= '~') || (c >= 0xA1 && c <= 0xAC) || c >= 0xAE;
      char32_t u = printable ? c : extra++;
      std::string s;
      if (u < 0x80) {
        s += static_cast<char>(u);
      } else {
        s += static_cast<char>(0xC0 | (u >> 6));
        s += static_cast<char>(0x80 | (u & 0x3F));
      }
      t.push_back(s);
    }
    return t;
  }();
  return table[b];
}

// A scratch directory where each test writes a small vocab.json and merges.txt.
struct files : ingest_fixture {
  std::string vocab = path("vocab.json"), merges = path("merges.txt");

  // Line 1 is "{", then one entry per line: the 256 bytes, byte b with id b (but `skip_byte`),
  // on lines 2 to 257, then `extra`.
  void write_vocab(const std::vector<std::pair<std::string, int>>& extra = {}, int skip_byte = -1) {
    std::vector<std::string> entries;
    for (unsigned b = 0; b < 256; ++b) {
      if (static_cast<int>(b) == skip_byte) continue;
      auto token = b == '"' ? std::string("\\\"") : b == '\\' ? std::string("\\\\") : spelled(b);
      entries.push_back(fmt::format("\"{}\": {}", token, b));
    }
    for (const auto& [token, id] : extra) entries.push_back(fmt::format("\"{}\": {}", token, id));
    std::ofstream out(vocab);
    out << "{\n";
    for (std::size_t i = 0; i < entries.size(); ++i)
      out << "  " << entries[i] << (i + 1 < entries.size() ? ",\n" : "\n");
    out << "}\n";
  }
  void write(const std::string& file, const std::string& text) { std::ofstream(file) << text; }

  std::string refusal(const std::vector<std::string>& specials = {}) {
    try {
      bpe_tokenizer t(vocab, merges, specials);
    } catch (const std::runtime_error& e) {
      return e.what();
    }
    return "(accepted)";
  }
  std::string vocab_refusal(const std::string& text) {
    write(vocab, text);
    return refusal();
  }
  std::string merges_refusal(const std::string& text) {
    write(merges, text);
    return refusal();
  }
};

packet_ptr text_packet(const std::string& text, std::uint64_t sequence) {
  auto memory = buffer::allocate(text.size());
  std::memcpy(memory.data(), text.data(), text.size());
  packet p;
  p.sequence = sequence;
  p.tensors.push_back(
      {"text", tensor(dtype::u8, {static_cast<std::int64_t>(text.size())}, std::move(memory))});
  p.metadata.emplace_back("text", text);
  return std::make_shared<const packet>(std::move(p));
}

std::vector<std::int64_t> ids_of(const packet& p) {
  const auto& t = p.at("tokens");
  BOOST_TEST((t.type() == dtype::i64));
  BOOST_TEST(t.rank() == 1u);
  const auto* first = reinterpret_cast<const std::int64_t*>(t.raw());
  return {first, first + t.shape()[0]};
}

std::vector<std::int64_t> golden_ids(const std::string& name) {
  for (auto& g : read_goldens())
    if (g.name == name) return g.ids;
  throw std::runtime_error("no golden " + name);
}

// The tokenizer stage's parameters: defaults, then `settings`.
param_values tokenizer_params(const stage_spec& spec,
                              std::map<std::string, param_value, std::less<>> settings) {
  std::map<std::string, param_value, std::less<>> values;
  for (const auto& p : spec.params)
    if (p.default_value) values[p.key] = *p.default_value;
  for (auto& [key, value] : settings) values[key] = value;
  return param_values(std::move(values));
}

// text_source is a media stage: builds without media skip the graph runs.
boost::test_tools::assertion_result has_text_source(boost::unit_test::test_unit_id) {
  boost::test_tools::assertion_result result(stage_registry::with_builtins().find("text_source") !=
                                             nullptr);
  result.message() << "loom was built without the media stages: skipped";
  return result;
}

}  // namespace

BOOST_AUTO_TEST_CASE(token_ids_match_the_python_reference) {
  auto tokenizer = fixture_tokenizer();
  BOOST_TEST(tokenizer.size() == 649u);
  const auto goldens = read_goldens();
  BOOST_REQUIRE_EQUAL(goldens.size(), 15u);
  for (const auto& g : goldens) {
    BOOST_TEST_CONTEXT(g.name) {
      BOOST_TEST(tokenizer.encode(g.text) == g.ids, boost::test_tools::per_element());
      BOOST_TEST(tokenizer.decode(g.ids) == g.text);
    }
  }
  // A second pass answers from the cache of merged pieces: the same ids.
  for (const auto& g : goldens) BOOST_TEST(tokenizer.encode(g.text) == g.ids);
}

BOOST_AUTO_TEST_CASE(merges_apply_by_rank_and_what_they_do_not_cover_stays_bytes) {
  auto tokenizer = fixture_tokenizer();
  BOOST_TEST(tokenizer.encode(" the") == std::vector<std::int64_t>{*tokenizer.find("Ġthe")});
  // No merge covers the emoji: its four bytes are four byte tokens.
  auto fox = tokenizer.encode("🦊");
  BOOST_REQUIRE_EQUAL(fox.size(), 4u);
  BOOST_TEST(fox[0] == *tokenizer.find("ð"));  // 0xF0
  BOOST_TEST(tokenizer.decode(fox) == "🦊");
}

BOOST_AUTO_TEST_CASE(the_pre_tokenizer_splits_as_gpt2s_regular_expression) {
  using pieces = std::vector<std::string>;
  BOOST_TEST(pieces_of("Hello world") == (pieces{"Hello", " world"}));
  BOOST_TEST(pieces_of("don't they're I'M") ==
             (pieces{"don", "'t", " they", "'re", " I", "'", "M"}));
  BOOST_TEST(pieces_of("a  b\n\nc   ") == (pieces{"a", " ", " b", "\n", "\n", "c", "   "}));
  BOOST_TEST(pieces_of("x\ty") == (pieces{"x", "\t", "y"}));
  BOOST_TEST(pieces_of("v2.0!? 42") == (pieces{"v", "2", ".", "0", "!?", " 42"}));
  // Accented Latin, CJK, other scripts' digits and superscripts go by their general category.
  BOOST_TEST(pieces_of("café naïve Ærø") == (pieces{"café", " naïve", " Ærø"}));
  BOOST_TEST(pieces_of("日本語 text東京") == (pieces{"日本語", " text東京"}));
  BOOST_TEST(pieces_of("x² ١٢٣") == (pieces{"x", "²", " ١٢٣"}));
  // U+00A0 and U+3000 are white space; an emoji is neither letter nor number.
  BOOST_TEST(pieces_of("a\u00a0b\u3000\u3000c") ==
             (pieces{"a", "\u00a0", "b", "\u3000", "\u3000", "c"}));
  BOOST_TEST(pieces_of("ok👍🏽!") == (pieces{"ok", "👍🏽!"}));
  // Bytes that are not UTF-8 are "other" characters, one by one.
  BOOST_TEST(pieces_of("a\xff\xfe b\xc3") == (pieces{"a", "\xff\xfe", " b", "\xc3"}));
}

BOOST_AUTO_TEST_CASE(any_bytes_decode_back_to_themselves) {
  auto tokenizer = fixture_tokenizer();
  std::vector<std::string> texts = {"",
                                    " ",
                                    "\n",
                                    "The café's 日本 🦊\r\n\t  x",
                                    "\xc3\x28 \xe2\x82 \xf0\x9f",
                                    std::string(5000, 'a'),
                                    "<|endoftext|><|endoftext|>"};
  std::string every_byte;
  for (int b = 0; b < 256; ++b) every_byte += static_cast<char>(b);
  texts.push_back(every_byte);
  std::mt19937 random(7);
  for (int i = 0; i < 50; ++i) {
    std::string noise(random() % 200, '\0');
    for (auto& c : noise) c = static_cast<char>(random());
    texts.push_back(noise);
  }
  for (const auto& text : texts) BOOST_TEST(tokenizer.decode(tokenizer.encode(text)) == text);
  BOOST_CHECK_THROW(tokenizer.decode(std::vector<std::int64_t>{649}), std::out_of_range);
  BOOST_CHECK_THROW(tokenizer.decode(std::vector<std::int64_t>{-1}), std::out_of_range);
}

BOOST_AUTO_TEST_CASE(special_tokens_are_recognised_whole_only_when_named) {
  auto with = fixture_tokenizer();
  const auto eot = *with.find("<|endoftext|>"), pad = *with.find("<|pad|>");
  BOOST_TEST(with.encode("<|endoftext|>") == std::vector<std::int64_t>{eot});
  auto ids = with.encode("a<|pad|><|endoftext|>b<|pad|");
  BOOST_REQUIRE(ids.size() >= 4u);
  BOOST_TEST(ids[1] == pad);
  BOOST_TEST(ids[2] == eot);
  BOOST_TEST(std::count(ids.begin(), ids.end(), pad) == 1);  // "<|pad|" is only text
  BOOST_TEST(with.decode(ids) == "a<|pad|><|endoftext|>b<|pad|");

  bpe_tokenizer without(fixture_vocab, fixture_merges);
  auto plain = without.encode("<|endoftext|>");
  BOOST_TEST(plain.size() > 1u);
  BOOST_TEST(std::count(plain.begin(), plain.end(), eot) == 0);
}

BOOST_FIXTURE_TEST_CASE(of_two_special_tokens_at_one_place_the_longer_wins, files) {
  write_vocab({{"<|a|>", 256}, {"<|a|>x", 257}, {"xx", 258}});
  write(merges, "#version: 0.2\r\nx x\r\n");
  bpe_tokenizer t(vocab, merges, {"<|a|>", "<|a|>x"});
  BOOST_TEST(t.encode("<|a|>xx<|a|>") == (std::vector<std::int64_t>{257, 'x', 256}));
  BOOST_TEST(t.encode("xxx") == (std::vector<std::int64_t>{258, 'x'}));
}

BOOST_FIXTURE_TEST_CASE(missing_and_oversized_files_are_refused, files) {
  BOOST_TEST(refusal() == vocab + ": cannot read file: No such file or directory");
  write_vocab();
  BOOST_TEST(refusal() == merges + ": cannot read file: No such file or directory");
  write(merges, "");
  BOOST_TEST(refusal() == "(accepted)");
  std::filesystem::resize_file(merges, 65 * 1024 * 1024);
  BOOST_TEST(refusal() == merges + ": file is 65.0 MiB; tokenizer files are limited to 64 MiB");
  std::filesystem::resize_file(vocab, max_tokenizer_file_bytes + 1);
  BOOST_TEST(refusal() == vocab + ": file is 64.0 MiB; tokenizer files are limited to 64 MiB");
}

BOOST_FIXTURE_TEST_CASE(invalid_json_is_refused_at_its_line_and_column, files) {
  write(merges, "");
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"", "1:1: the file ends where a JSON object of tokens to ids should be"},
      {"[1, 2]", "1:1: expected a JSON object of tokens to ids"},
      {"{}", "1:2: the vocabulary is empty"},
      {"{\n  \"a\": 1,\n  \"b\" 2\n}", "3:7: expected ':' after a token"},
      {"{\"a\": 1,}", "1:9: expected a token in double quotes"},
      {"{\"a\": 1 \"b\": 2}", "1:9: expected ',' or '}' after an id"},
      {"{\"a\": -1}", "1:7: ids must not be negative"},
      {"{\"a\": 1.5}", "1:8: ids must be integers"},
      {"{\"a\": \"1\"}", "1:7: expected an integer id"},
      {"{\"a\": 99999999}", "1:14: ids must be below 16777216"},
      {"{\"a\": 1} x", "1:10: unexpected text after the vocabulary's closing '}'"},
      {"{\"a", "1:4: the file ends inside a string"},
      {"{\"\\q\": 1}", "1:4: an unknown escape in a string"},
      {"{\"\\u12\": 1}", "1:7: \\u needs four hexadecimal digits"},
      {"{\"\\ud800\": 1}", "1:9: a high surrogate without its low half"},
      {"{\"\\udc00\": 1}", "1:9: a low surrogate without its high half"},
      {"{\"\xff\": 1}", "1:3: a string is not valid UTF-8"},
      {"{\"a\tb\": 1}", "1:4: a control character inside a string"},
  };
  for (const auto& [text, error] : cases) BOOST_TEST(vocab_refusal(text) == vocab + ":" + error);
}

BOOST_FIXTURE_TEST_CASE(duplicates_and_missing_bytes_in_the_vocabulary_are_refused, files) {
  write(merges, "");
  write_vocab({{"ab", 256}, {"cd", 256}});
  BOOST_TEST(refusal() == vocab + ":259: id 256 of \"cd\" is already taken on line 258");
  write_vocab({{"ab", 256}, {"ab", 257}});
  BOOST_TEST(refusal() == vocab + ":259: the token \"ab\" appears twice (first with id 256)");
  write_vocab({}, '\n');
  BOOST_TEST(refusal() == vocab +
                              ": no token for byte 0x0A (\"Ċ\"); byte-level BPE needs one for each "
                              "of the 256 bytes");
  write_vocab();
  BOOST_TEST(refusal({"<|x|>"}) ==
             vocab + ": the special token \"<|x|>\" is not in the vocabulary");
}

BOOST_FIXTURE_TEST_CASE(bad_merges_are_refused_at_their_line, files) {
  write_vocab({{"ab", 256}});
  BOOST_TEST(merges_refusal("a b c\n") ==
             merges + ":1: expected two tokens separated by one space, got \"a b c\"");
  BOOST_TEST(merges_refusal("#version: 0.2\nab\n") ==
             merges + ":2: expected two tokens separated by one space, got \"ab\"");
  BOOST_TEST(merges_refusal("a  b\n") ==
             merges + ":1: expected two tokens separated by one space, got \"a  b\"");
  BOOST_TEST(merges_refusal("a zz\n") == merges + ":1: \"zz\" is not in the vocabulary");
  BOOST_TEST(merges_refusal("b a\n") ==
             merges + ":1: the merge of \"b\" and \"a\", \"ba\", is not in the vocabulary");
  BOOST_TEST(merges_refusal("a b\n\na b\n") == merges + ":3: \"a b\" repeats the merge on line 1");
  BOOST_TEST(merges_refusal("a b") == "(accepted)");
  BOOST_TEST(bpe_tokenizer(vocab, merges).encode("abab") == (std::vector<std::int64_t>{256, 256}));
}

BOOST_AUTO_TEST_CASE(the_stage_frames_cuts_and_keeps_metadata) {
  auto registry = stage_registry::with_builtins();
  const auto& spec = *registry.find("tokenizer");
  const auto inferred = spec.infer(param_values{}, {port_type{dtype::u8, 1}});
  BOOST_TEST((inferred.at(0).type == dtype::i64));
  BOOST_TEST(*inferred.at(0).rank == 1);

  // Relative paths resolve against the graph file's directory.
  run_info run{"tokens", fixture_dir + "/graph.toml", "", "0.1.0"};
  auto params = [&](std::int64_t max_tokens) {
    return tokenizer_params(spec, {{"vocab", std::string("vocab.json")},
                                   {"merges", std::string("merges.txt")},
                                   {"special_tokens", fixture_specials},
                                   {"bos", std::string("<|pad|>")},
                                   {"eos", std::string("<|endoftext|>")},
                                   {"max_tokens", max_tokens}});
  };
  const auto hello = golden_ids("ascii");
  BOOST_REQUIRE_EQUAL(hello.size(), 10u);
  const std::int64_t pad = 648, eot = 647;

  stage_context ctx("tok", spec, params(0));
  ctx.set_run_info(run);
  auto instance = spec.make();
  instance->open(ctx);
  ctx.set_input(0, text_packet("Hello world", 5));
  instance->process(ctx);
  BOOST_REQUIRE_EQUAL(ctx.emitted().size(), 1u);
  const auto& out = *ctx.emitted()[0].second;
  auto want = hello;
  want.insert(want.begin(), pad);
  want.push_back(eot);
  BOOST_TEST(ids_of(out) == want, boost::test_tools::per_element());
  BOOST_TEST(out.sequence == 5u);
  BOOST_TEST(*out.meta("text") == "Hello world");
  BOOST_TEST(out.meta("truncated_tokens") == nullptr);
  BOOST_TEST(out.find("text") == nullptr);

  stage_context cut("tok", spec, params(5));
  cut.set_run_info(run);
  std::vector<std::string> log;
  cut.set_log([&](const std::string& line) { log.push_back(line); });
  auto short_one = spec.make();
  short_one->open(cut);
  for (std::uint64_t sequence : {5, 6}) {
    cut.set_input(0, text_packet("Hello world", sequence));
    short_one->process(cut);
  }
  short_one->close(cut);
  BOOST_REQUIRE_EQUAL(cut.emitted().size(), 2u);
  BOOST_TEST(ids_of(*cut.emitted()[0].second) ==
                 (std::vector<std::int64_t>{pad, hello[0], hello[1], hello[2], eot}),
             boost::test_tools::per_element());
  BOOST_TEST(*cut.emitted()[0].second->meta("truncated_tokens") == "7");
  BOOST_TEST(
      log == (std::vector<std::string>{
                 "stage 'tok' (tokenizer): cut a text of 12 tokens to max_tokens = 5 (packet "
                 "5); further cuts are counted and reported at the end",
                 "stage 'tok' (tokenizer): cut 2 texts to max_tokens = 5, dropping 14 tokens "
                 "in all"}),
      boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(the_stage_refuses_unknown_framing_tokens_and_other_inputs) {
  auto registry = stage_registry::with_builtins();
  const auto& spec = *registry.find("tokenizer");
  auto open_error = [&](std::map<std::string, param_value, std::less<>> settings) {
    settings.emplace("vocab", fixture_vocab);
    settings.emplace("merges", fixture_merges);
    stage_context ctx("tok", spec, tokenizer_params(spec, std::move(settings)));
    try {
      spec.make()->open(ctx);
    } catch (const std::exception& e) {
      return std::string(e.what());
    }
    return std::string("(opened)");
  };
  BOOST_TEST(open_error({{"bos", std::string("<s>")}}) ==
             "bos = \"<s>\" is not a token of the vocabulary");
  BOOST_TEST(open_error({{"eos", std::string("<|endoftext|>")}, {"max_tokens", std::int64_t{1}}}) ==
             "max_tokens = 1 leaves no room for text between bos and eos");
  BOOST_TEST(open_error({{"eos", std::string("<|endoftext|>")}, {"max_tokens", std::int64_t{2}}}) ==
             "(opened)");

  stage_context ctx("tok", spec,
                    tokenizer_params(spec, {{"vocab", fixture_vocab}, {"merges", fixture_merges}}));
  auto instance = spec.make();
  instance->open(ctx);
  packet floats;
  floats.tensors.push_back({"text", tensor::zeros(dtype::f32, {2})});
  ctx.set_input(0, std::make_shared<const packet>(std::move(floats)));
  try {
    instance->process(ctx);
    BOOST_FAIL("a f32 input was accepted");
  } catch (const std::invalid_argument& e) {
    BOOST_TEST(std::string(e.what()).starts_with(
        "the input \"text\" must be contiguous u8 [len] (UTF-8 bytes), got f32"));
  }
}

BOOST_FIXTURE_TEST_CASE(prompts_flow_from_text_source_through_the_tokenizer, ingest_fixture,
                        *boost::unit_test::precondition(has_text_source)) {
  auto r = run(fmt::format(R"([stages.prompts]
type = "text_source"
prompts = ["Hello world", "The quick brown fox jumps over the lazy dog."]
[stages.tok]
type = "tokenizer"
vocab = '{}'
merges = '{}'
inputs.in = "prompts.out"
[stages.sink]
type = "collect"
inputs.in = "tok.out"
)",
                           fixture_vocab, fixture_merges));
  BOOST_TEST((r.result.status == run_result::outcome::completed), test::joined(r.result.failures));
  auto got = packets();
  BOOST_REQUIRE_EQUAL(got.size(), 2u);
  BOOST_TEST(ids_of(*got[0]) == golden_ids("ascii"), boost::test_tools::per_element());
  BOOST_TEST(ids_of(*got[1]) == golden_ids("sentence"), boost::test_tools::per_element());
  BOOST_TEST(*got[1]->meta("text") == "The quick brown fox jumps over the lazy dog.");
}

BOOST_FIXTURE_TEST_CASE(a_missing_vocabulary_fails_the_run_at_start_up, ingest_fixture,
                        *boost::unit_test::precondition(has_text_source)) {
  auto r = run(fmt::format(R"([stages.prompts]
type = "text_source"
prompts = ["Hello"]
[stages.tok]
type = "tokenizer"
vocab = '{}'
merges = '{}'
inputs.in = "prompts.out"
[stages.sink]
type = "collect"
inputs.in = "tok.out"
)",
                           path("none.json"), fixture_merges));
  BOOST_TEST((r.result.status == run_result::outcome::failed));
  BOOST_REQUIRE(!r.result.failures.empty());
  BOOST_TEST(r.result.failures[0] ==
             fmt::format("stage 'tok' (tokenizer) failed to open: {}: cannot read file: No such "
                         "file or directory",
                         path("none.json")));
}
