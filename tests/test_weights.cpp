// Model weights: the safetensors reader (zero-copy views of a mapping that goes with the last
// tensor; every kind of broken or hostile file refused with a message naming file and tensor),
// the strict JSON reader under it, model configs, and `weights` — matching a file against what a
// model expects, "random:SEED" tensors that are the same bytes for a seed everywhere, and moving
// the tensors to a device. The files are written here, byte by byte, so each case is exactly the
// file it describes.
#include <boost/test/unit_test.hpp>

#include <stdlib.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <optional>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "devices/float_convert.hpp"
#include "stages/model/json_value.hpp"
#include "stages/model/model_config.hpp"
#include "stages/model/safetensors.hpp"
#include "stages/model/weights.hpp"

using namespace loom;
using namespace std::string_literals;
namespace fs = std::filesystem;

namespace {

// A fresh directory for one test's files, removed afterwards.
struct scratch_dir {
  scratch_dir() {
    std::string pattern = (fs::temp_directory_path() / "loom-weights-XXXXXX").string();
    if (!::mkdtemp(pattern.data())) throw std::runtime_error("mkdtemp failed");
    path = fs::canonical(pattern);
  }
  ~scratch_dir() { fs::remove_all(path); }
  std::string file(const std::string& name) const { return (path / name).string(); }
  fs::path path;
};

struct fixture_tensor {
  std::string name;
  std::string dtype;  // safetensors spelling
  std::vector<std::int64_t> shape;
  std::string bytes;
};

template <class T>
std::string bytes_of(std::initializer_list<T> values) {
  std::string out(values.size() * sizeof(T), '\0');
  std::memcpy(out.data(), std::data(values), out.size());
  return out;
}

std::string length_prefix(std::uint64_t n) {
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((n >> (8 * i)) & 0xff);
  return out;
}

void write_file(const std::string& path, const std::string& contents) {
  std::ofstream out(path, std::ios::binary);
  out << contents;
}

// A file with this exact header text and data.
std::string raw_file(const std::string& header, const std::string& data) {
  return length_prefix(header.size()) + header + data;
}

// A well-formed file as writers make it: tensors laid out in order, the header padded with
// spaces so that the data starts 8-byte aligned.
std::string safetensors_bytes(const std::vector<fixture_tensor>& tensors,
                              const std::string& metadata = "") {
  std::string header = "{", data;
  if (!metadata.empty()) header += "\"__metadata__\":" + metadata;
  for (const auto& t : tensors) {
    if (header.size() > 1) header += ",";
    header += fmt::format("\"{}\":{{\"dtype\":\"{}\",\"shape\":[{}],\"data_offsets\":[{},{}]}}",
                          t.name, t.dtype, fmt::join(t.shape, ","), data.size(),
                          data.size() + t.bytes.size());
    data += t.bytes;
  }
  header += "}";
  while ((8 + header.size()) % 8 != 0) header += ' ';
  return raw_file(header, data);
}

std::string open_error(const std::string& path) {
  try {
    safetensors_file::open(path);
  } catch (const std::runtime_error& e) {
    return e.what();
  }
  return "(no error)";
}

// The error for a file holding exactly `contents`.
std::string error_for(const scratch_dir& dir, const std::string& contents) {
  const auto path = dir.file("broken.safetensors");
  write_file(path, contents);
  return open_error(path);
}

bool mapped(const std::string& path) {
  std::ifstream maps("/proc/self/maps");
  std::string line;
  while (std::getline(maps, line))
    if (line.ends_with(" " + path)) return true;
  return false;
}

bool points_into(const tensor& t, const buffer& mapping) {
  return t.raw() >= mapping.data() && t.raw() + t.nbytes() <= mapping.data() + mapping.size();
}

std::vector<fixture_tensor> four_dtypes() {
  return {
      {"embed.weight", "F32", {2, 3}, bytes_of<float>({1, 2, 3, 4, 5, 6})},
      {"norm.weight", "BF16", {4}, bytes_of<std::uint16_t>({bf16_from_f32(1.0f), bf16_from_f32(-2.0f),
                                                             bf16_from_f32(0.5f), bf16_from_f32(3.0f)})},
      {"proj.weight", "F16", {2, 2}, bytes_of<std::uint16_t>({f16_from_f32(0.25f), f16_from_f32(-1.0f),
                                                               f16_from_f32(2.0f), f16_from_f32(8.0f)})},
      {"positions", "I64", {3}, bytes_of<std::int64_t>({7, -1, 1ll << 40})},
  };
}

}  // namespace

BOOST_AUTO_TEST_SUITE(safetensors)

BOOST_AUTO_TEST_CASE(tensors_are_views_of_the_mapping_in_each_dtype) {
  scratch_dir dir;
  const auto path = dir.file("model.safetensors");
  write_file(path, safetensors_bytes(four_dtypes(), R"({"format":"pt","note":"tiny"})"));

  auto file = safetensors_file::open(path);
  BOOST_TEST(file.names() == (std::vector<std::string>{"embed.weight", "norm.weight",
                                                       "proj.weight", "positions"}));
  BOOST_TEST(file.metadata().at("format") == "pt");
  BOOST_TEST(file.metadata().at("note") == "tiny");
  BOOST_TEST(file.mapping().size() == fs::file_size(path));
  BOOST_TEST(file.copied_bytes() == 0u);

  const auto& embed = file.get("embed.weight");
  BOOST_TEST((embed.type() == dtype::f32));
  BOOST_TEST((embed.shape() == shape_t{2, 3}));
  BOOST_TEST(embed.data<float>()[5] == 6.0f);
  const auto& norm = file.get("norm.weight");
  BOOST_TEST((norm.type() == dtype::bf16));
  BOOST_TEST(f32_from_bf16(norm.data<std::uint16_t>()[1]) == -2.0f);
  const auto& proj = file.get("proj.weight");
  BOOST_TEST((proj.type() == dtype::f16));
  BOOST_TEST(f32_from_f16(proj.data<std::uint16_t>()[3]) == 8.0f);
  const auto& positions = file.get("positions");
  BOOST_TEST((positions.type() == dtype::i64));
  BOOST_TEST(positions.data<std::int64_t>()[2] == (1ll << 40));

  // No copies: every tensor points into the one mapping and shares its ownership, and the data
  // sits where the file puts it.
  const auto data_start = fs::file_size(path) - (24 + 8 + 8 + 24);
  for (const auto& name : file.names()) {
    const auto& t = file.get(name);
    BOOST_TEST(points_into(t, file.mapping()));
    BOOST_TEST(t.memory().same_memory(file.mapping()));
    BOOST_TEST(t.device() == "cpu");
  }
  BOOST_TEST(embed.raw() == file.mapping().data() + data_start);
  BOOST_TEST(file.mapping().use_count() == 5);
}

BOOST_AUTO_TEST_CASE(the_mapping_goes_with_the_last_tensor) {
  scratch_dir dir;
  const auto path = dir.file("model.safetensors");
  write_file(path, safetensors_bytes(four_dtypes()));
  BOOST_TEST(!mapped(path));
  tensor kept;
  {
    auto file = safetensors_file::open(path);
    BOOST_TEST(mapped(path));
    kept = file.get("proj.weight");
  }
  BOOST_TEST(mapped(path));  // the file object is gone, the tensor still holds the mapping
  BOOST_TEST(f32_from_f16(kept.data<std::uint16_t>()[0]) == 0.25f);
  kept = tensor();
  BOOST_TEST(!mapped(path));
}

BOOST_AUTO_TEST_CASE(a_failed_open_leaves_nothing_mapped) {
  scratch_dir dir;
  const auto path = dir.file("broken.safetensors");
  write_file(path, raw_file(R"({"w":{"dtype":"F64","shape":[1],"data_offsets":[0,8]}})", std::string(8, '\0')));
  BOOST_CHECK_THROW(safetensors_file::open(path), std::runtime_error);
  BOOST_TEST(!mapped(path));
}

BOOST_AUTO_TEST_CASE(a_misaligned_tensor_is_copied_and_counted) {
  scratch_dir dir;
  const auto path = dir.file("odd.safetensors");
  std::string header =
      R"({"flag":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"w":{"dtype":"F32","shape":[2],"data_offsets":[1,9]}})";
  while ((8 + header.size()) % 8 != 0) header += ' ';
  write_file(path, raw_file(header, "\x01" + bytes_of<float>({1.5f, -2.5f})));
  auto file = safetensors_file::open(path);
  BOOST_TEST(file.copied_bytes() == 8u);
  const auto& w = file.get("w");
  BOOST_TEST(reinterpret_cast<std::uintptr_t>(w.raw()) % 4 == 0u);
  BOOST_TEST(!points_into(w, file.mapping()));
  BOOST_TEST(w.data<float>()[1] == -2.5f);
  BOOST_TEST(points_into(file.get("flag"), file.mapping()));
}

BOOST_AUTO_TEST_CASE(an_empty_file_of_tensors_and_empty_tensors_are_fine) {
  scratch_dir dir;
  const auto path = dir.file("empty.safetensors");
  write_file(path, safetensors_bytes({{"none", "F32", {0, 4}, ""}, {"one", "I32", {1}, bytes_of<std::int32_t>({9})}}));
  auto file = safetensors_file::open(path);
  BOOST_TEST(file.get("none").numel() == 0);
  BOOST_TEST(file.get("one").data<std::int32_t>()[0] == 9);
  BOOST_TEST(file.metadata().empty());
}

BOOST_AUTO_TEST_CASE(asking_for_an_absent_tensor_names_file_and_tensor) {
  scratch_dir dir;
  const auto path = dir.file("model.safetensors");
  write_file(path, safetensors_bytes(four_dtypes()));
  auto file = safetensors_file::open(path);
  BOOST_TEST(file.find("lm_head.weight") == nullptr);
  try {
    file.get("lm_head.weight");
    BOOST_FAIL("expected an error");
  } catch (const std::runtime_error& e) {
    BOOST_TEST(e.what() == path + ": there is no tensor \"lm_head.weight\"");
  }
}

BOOST_AUTO_TEST_CASE(broken_files_are_refused_with_what_is_wrong) {
  scratch_dir dir;
  const auto p = dir.file("broken.safetensors");
  auto entry = [](const std::string& name, const std::string& dtype, const std::string& shape,
                  const std::string& offsets) {
    return fmt::format(R"("{}":{{"dtype":"{}","shape":{},"data_offsets":{}}})", name, dtype, shape,
                       offsets);
  };
  auto one = [&](const std::string& dtype, const std::string& shape, const std::string& offsets,
                 std::size_t data_bytes) {
    return raw_file("{" + entry("w", dtype, shape, offsets) + "}", std::string(data_bytes, '\0'));
  };

  BOOST_TEST(open_error(dir.file("absent.safetensors")) ==
             dir.file("absent.safetensors") + ": cannot open: No such file or directory");
  BOOST_TEST(error_for(dir, "\x10\0\0\0"s) ==
             p + ": truncated: 4 bytes, too short for the 8-byte header length");
  BOOST_TEST(error_for(dir, length_prefix(100) + "{}        ") ==
             p + ": truncated: the header length is 100 bytes but only 10 bytes follow it");
  BOOST_TEST(error_for(dir, length_prefix(200ull << 20) + "{}") ==
             p + ": the header length is 209715200 bytes, over the limit of 100 MiB");
  BOOST_TEST(error_for(dir, raw_file(R"({"w": })", "")) ==
             p + ": the header is not valid JSON: line 1, column 7: expected a value");
  BOOST_TEST(error_for(dir, raw_file(R"({"w":{},})", "")) ==
             p + ": the header is not valid JSON: line 1, column 9: expected a string key");
  BOOST_TEST(error_for(dir, raw_file("{\"w\xff\":{}}", "")) ==
             p + ": the header is not valid JSON: line 1, column 4: invalid UTF-8 in a string");
  BOOST_TEST(error_for(dir, raw_file(std::string(100, '[') + std::string(100, ']'), "")) ==
             p + ": the header is not valid JSON: line 1, column 65: nested deeper than 64 levels");
  BOOST_TEST(error_for(dir, raw_file("[1]", "")) ==
             p + ": the header is an array, expected a JSON object");
  BOOST_TEST(error_for(dir, raw_file(R"({"w":"F32"})", "")) ==
             p + ": tensor \"w\": the entry is a string, expected an object with dtype, shape and "
                 "data_offsets");
  BOOST_TEST(error_for(dir, raw_file(R"({"w":{"dtype":"F32","shape":[1]}})", "")) ==
             p + ": tensor \"w\": the entry has no \"data_offsets\"");
  BOOST_TEST(error_for(dir, one("F64", "[1]", "[0,8]", 8)) ==
             p + ": tensor \"w\": dtype \"F64\" is not one loom reads (F32, BF16, F16, I32, I64, U8)");
  BOOST_TEST(error_for(dir, one("F32", "[2,-1]", "[0,8]", 8)) ==
             p + ": tensor \"w\": shape [2, -1]: dimension 1 is -1; dimensions are non-negative "
                 "integers");
  BOOST_TEST(error_for(dir, one("F32", "[2.5]", "[0,8]", 8)) ==
             p + ": tensor \"w\": shape [2.5]: dimension 0 is 2.5; dimensions are non-negative "
                 "integers");
  BOOST_TEST(error_for(dir, one("F32", "[99999999999999999999]", "[0,8]", 8)) ==
             p + ": tensor \"w\": shape [1e+20]: dimension 0 is 1e+20; dimensions are "
                 "non-negative integers");
  BOOST_TEST(error_for(dir, one("F32", "[1,1,1,1,1,1,1,1,1]", "[0,4]", 4)) ==
             p + ": tensor \"w\": the shape has 9 dimensions; loom tensors have at most 8");
  BOOST_TEST(error_for(dir, one("F32", "[4294967296,4294967296]", "[0,8]", 8)) ==
             p + ": tensor \"w\": shape [4294967296, 4294967296] holds more bytes than 64 bits "
                 "count");
  BOOST_TEST(error_for(dir, one("F32", "[2]", "[8,0]", 8)) ==
             p + ": tensor \"w\": data_offsets [8, 0] are out of order");
  BOOST_TEST(error_for(dir, one("F32", "[2]", "[0]", 8)) ==
             p + ": tensor \"w\": \"data_offsets\" is [0], expected [begin, end] as non-negative "
                 "integers");
  BOOST_TEST(error_for(dir, one("F32", "[4]", "[0,16]", 8)) ==
             p + ": tensor \"w\": data_offsets [0, 16] reach past the end of the data (8 bytes); "
                 "the file is truncated or the header is wrong");
  BOOST_TEST(error_for(dir, one("F32", "[3]", "[0,8]", 8)) ==
             p + ": tensor \"w\": data_offsets [0, 8] hold 8 bytes, but F32 [3] needs 12");
  BOOST_TEST(error_for(dir, raw_file("{" + entry("w", "U8", "[1]", "[0,1]") + "," +
                                         entry("w", "U8", "[1]", "[1,2]") + "}",
                                     "ab")) == p + ": tensor \"w\" is listed twice in the header");
  BOOST_TEST(error_for(dir, raw_file("{" + entry("a", "F32", "[2]", "[0,8]") + "," +
                                         entry("b", "F32", "[2]", "[4,12]") + "}",
                                     std::string(12, '\0'))) ==
             p + ": tensor \"b\" (bytes [4, 12)) overlaps tensor \"a\" (bytes [0, 8))");
  BOOST_TEST(error_for(dir, raw_file("{" + entry("b", "F32", "[1]", "[8,12]") + "," +
                                         entry("a", "F32", "[1]", "[0,4]") + "}",
                                     std::string(12, '\0'))) ==
             p + ": bytes [4, 8) of the data, before tensor \"b\", belong to no tensor");
  BOOST_TEST(error_for(dir, one("F32", "[1]", "[0,4]", 8)) ==
             p + ": bytes [4, 8) at the end of the data belong to no tensor");
  BOOST_TEST(error_for(dir, raw_file(R"({"__metadata__":{"format":1}})", "")) ==
             p + ": \"__metadata__\" \"format\" is an integer, expected a string");
}

BOOST_AUTO_TEST_CASE(a_truncated_file_names_the_tensor_it_cuts) {
  scratch_dir dir;
  auto whole = safetensors_bytes(four_dtypes());
  const auto path = dir.file("cut.safetensors");
  write_file(path, whole.substr(0, whole.size() - 4));
  BOOST_TEST(open_error(path) ==
             path + ": tensor \"positions\": data_offsets [40, 64] reach past the end of the data "
                    "(60 bytes); the file is truncated or the header is wrong");
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(json)

BOOST_AUTO_TEST_CASE(reads_strict_json) {
  auto v = parse_json(R"( {"a": [1, -2.5e1, true, null], "s": "\u00e9\ud83d\ude00\n\"", "n": 0} )");
  BOOST_TEST(v.is_object());
  const auto& a = v.find("a")->items();
  BOOST_TEST(*a[0].integer() == 1);
  BOOST_TEST(a[1].number() == -25.0);
  BOOST_TEST(!a[1].integer());
  BOOST_TEST(a[2].boolean());
  BOOST_TEST(a[3].is_null());
  BOOST_TEST(v.find("s")->string() == "\xc3\xa9\xf0\x9f\x98\x80\n\"");
  BOOST_TEST(*v.find("n")->integer() == 0);
  BOOST_TEST(!parse_json("123456789012345678901").integer());
}

BOOST_AUTO_TEST_CASE(refuses_what_json_does_not_allow) {
  auto error = [](std::string_view text) {
    try {
      parse_json(text);
    } catch (const json_error& e) {
      return std::string(e.what());
    }
    return std::string("(no error)");
  };
  BOOST_TEST(error("01") == "line 1, column 1: numbers have no leading zeros");
  BOOST_TEST(error("[1,]") == "line 1, column 4: expected a value");
  BOOST_TEST(error("{\n  \"a\": NaN}") == "line 2, column 8: expected a value");
  BOOST_TEST(error("1e999") == "line 1, column 1: number 1e999 is out of range");
  BOOST_TEST(error("\"\\ud800\"") == "line 1, column 2: lone high surrogate in a string");
  BOOST_TEST(error("\"a\tb\"") == "line 1, column 3: control character in a string");
  BOOST_TEST(error("{} {}") == "line 1, column 4: unexpected text after the JSON value");
  BOOST_TEST(error("\"abc") == "line 1, column 5: unterminated string");
  BOOST_TEST(error("// no\n{}") == "line 1, column 1: expected a value");
  BOOST_TEST(error("") == "line 1, column 1: unexpected end of the text");
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(config)

const char* tiny_config = R"({
  "hidden_size": 64,
  "rms_norm_eps": 1e-06,
  "rope_theta": 10000,
  "hidden_act": "silu",
  "tie_word_embeddings": false,
  "vision_config": {"hidden_size": 32, "patch_size": 14}
})";

std::string config_error(const std::function<void()>& call) {
  try {
    call();
  } catch (const std::runtime_error& e) {
    return e.what();
  }
  return "(no error)";
}

BOOST_AUTO_TEST_CASE(typed_getters_read_the_file) {
  scratch_dir dir;
  const auto path = dir.file("config.json");
  write_file(path, tiny_config);
  auto config = model_config::load(path);
  BOOST_TEST(config.source() == path);
  BOOST_TEST(config.integer("hidden_size") == 64);
  BOOST_TEST(config.number("rms_norm_eps") == 1e-6);
  BOOST_TEST(config.number("rope_theta") == 10000.0);  // an integer literal is a number too
  BOOST_TEST(config.string("hidden_act") == "silu");
  BOOST_TEST(!config.boolean("tie_word_embeddings"));
  BOOST_TEST(config.integer("vision_config.patch_size") == 14);
  BOOST_TEST(config.contains("vision_config.hidden_size"));
  BOOST_TEST(!config.contains("vision_config.depth"));
  BOOST_TEST(!config.contains("hidden_size.x"));
  BOOST_TEST(config.integer("num_experts", 8) == 8);
  BOOST_TEST(config.integer("hidden_size", 8) == 64);
  BOOST_TEST(config.string("norm", "rms") == "rms");
  BOOST_TEST(config.number("dropout", 0.5) == 0.5);
  BOOST_TEST(config.boolean("tie_word_embeddings", true) == false);
}

BOOST_AUTO_TEST_CASE(errors_name_the_file_and_the_key) {
  auto config = model_config::parse(tiny_config, "tiny/config.json");
  BOOST_TEST(config_error([&] { config.integer("num_layers"); }) ==
             "tiny/config.json: \"num_layers\" is missing");
  BOOST_TEST(config_error([&] { config.integer("vision_config.depth"); }) ==
             "tiny/config.json: \"vision_config.depth\" is missing");
  BOOST_TEST(config_error([&] { config.integer("hidden_act"); }) ==
             "tiny/config.json: \"hidden_act\" is a string (\"silu\"), expected an integer");
  BOOST_TEST(config_error([&] { config.integer("rms_norm_eps"); }) ==
             "tiny/config.json: \"rms_norm_eps\" is a number (1e-06), expected an integer");
  BOOST_TEST(config_error([&] { config.string("hidden_size"); }) ==
             "tiny/config.json: \"hidden_size\" is an integer (64), expected a string");
  BOOST_TEST(config_error([&] { config.number("vision_config"); }) ==
             "tiny/config.json: \"vision_config\" is an object ({\"hidden_size\": 32, "
             "\"patch_size\": 14}), expected a number");
  BOOST_TEST(config_error([&] { config.boolean("hidden_size"); }) ==
             "tiny/config.json: \"hidden_size\" is an integer (64), expected true or false");
  // A default covers a missing key, not a wrong one.
  BOOST_TEST(config_error([&] { config.integer("hidden_act", 1); }) ==
             "tiny/config.json: \"hidden_act\" is a string (\"silu\"), expected an integer");
}

BOOST_AUTO_TEST_CASE(broken_config_files_are_refused) {
  BOOST_TEST(config_error([] { model_config::load("/nonexistent/config.json"); }) ==
             "/nonexistent/config.json: cannot open the model config");
  BOOST_TEST(config_error([] { model_config::parse("{\"a\": 1,}", "c.json"); }) ==
             "c.json: not valid JSON: line 1, column 9: expected a string key");
  BOOST_TEST(config_error([] { model_config::parse("[]", "c.json"); }) ==
             "c.json: the model config is an array, expected a JSON object");
  BOOST_TEST(config_error([] { model_config::parse(R"({"v": {"a": 1, "a": 2}})", "c.json"); }) ==
             "c.json: key \"v.a\" is given twice");
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(model_weights)

std::string weights_error(const std::string& spec, const std::vector<weight_spec>& expected) {
  try {
    weights::open(spec, expected);
  } catch (const std::exception& e) {
    return e.what();
  }
  return "(no error)";
}

std::string bytes_of_tensor(const tensor& t) { return {reinterpret_cast<const char*>(t.raw()), t.nbytes()}; }

BOOST_AUTO_TEST_CASE(a_file_gives_the_expected_tensors_without_copying) {
  scratch_dir dir;
  const auto path = dir.file("model.safetensors");
  write_file(path, safetensors_bytes(four_dtypes()));
  auto w = weights::open(path, {{"embed.weight", dtype::f32, {2, 3}},
                                {"proj.weight", dtype::f16, {2, 2}}});
  BOOST_TEST(w.source() == path);
  BOOST_TEST(w.unused() == (std::vector<std::string>{"norm.weight", "positions"}));
  BOOST_TEST(w.get("embed.weight").data<float>()[2] == 3.0f);
  BOOST_TEST(w.bytes() == 24u + 8u);
  BOOST_TEST(w.memory_space() == "cpu");
  BOOST_TEST(w.get("embed.weight").memory().same_memory(w.get("proj.weight").memory()));
  BOOST_TEST(mapped(path));
  BOOST_CHECK_THROW(w.get("norm.weight"), std::out_of_range);
  BOOST_TEST(!w.contains("norm.weight"));
}

BOOST_AUTO_TEST_CASE(a_file_that_does_not_match_the_model_is_one_error_naming_each_tensor) {
  scratch_dir dir;
  const auto path = dir.file("model.safetensors");
  write_file(path, safetensors_bytes(four_dtypes()));
  BOOST_TEST(weights_error(path, {{"embed.weight", dtype::f32, {3, 2}}}) ==
             path + ": tensor \"embed.weight\": expected f32 [3, 2], found f32 [2, 3]");
  BOOST_TEST(weights_error(path, {{"norm.weight", dtype::f32, {4}}}) ==
             path + ": tensor \"norm.weight\": expected f32 [4], found bf16 [4]");
  BOOST_TEST(weights_error(path, {{"model.norm.weight", dtype::bf16, {4}}}) ==
             path + ": tensor \"model.norm.weight\" is missing (expected bf16 [4]); did you mean "
                    "\"norm.weight\"?");
  BOOST_TEST(weights_error(path, {{"emb.weight", dtype::f32, {2, 3}}}) ==
             path + ": tensor \"emb.weight\" is missing (expected f32 [2, 3]); did you mean "
                    "\"embed.weight\"?");
  BOOST_TEST(weights_error(path, {{"lm_head.weight", dtype::f32, {2, 3}}}) ==
             path + ": tensor \"lm_head.weight\" is missing (expected f32 [2, 3])");
  BOOST_TEST(weights_error(path, {{"proj.weight", dtype::f16, {4}},
                                  {"embed.weight", dtype::f32, {2, 3}},
                                  {"positions", dtype::i32, {3}}}) ==
             path + ": tensor \"proj.weight\": expected f16 [4], found f16 [2, 2]\n" + path +
                 ": tensor \"positions\": expected i32 [3], found i64 [3]");
  BOOST_TEST(weights_error(dir.file("none.safetensors"), {}) ==
             dir.file("none.safetensors") + ": cannot open: No such file or directory");
  BOOST_TEST(weights_error(path, {{"a", dtype::f32, {1}}, {"a", dtype::f32, {1}}}) ==
             "weights: tensor \"a\" is expected twice");
}

BOOST_AUTO_TEST_CASE(random_weights_are_deterministic_per_seed_and_name) {
  const std::vector<weight_spec> model = {
      {"embed.weight", dtype::f32, {16, 8}},
      {"proj.weight", dtype::bf16, {8, 32}},
      {"conv.weight", dtype::f16, {4, 2, 3, 3}},
      {"norm.weight", dtype::f32, {8}, weight_fill::ones},
      {"proj.bias", dtype::f32, {32}, weight_fill::zeros},
      {"positions", dtype::i64, {5}},
  };
  auto a = weights::open("random:7", model);
  auto b = weights::open("random:7", model);
  auto c = weights::open("random:8", model);
  BOOST_TEST(a.unused().empty());
  for (const auto& spec : model) {
    const auto& t = a.get(spec.name);
    BOOST_TEST((t.type() == spec.type));
    BOOST_TEST((t.shape() == spec.shape));
    BOOST_TEST(bytes_of_tensor(t) == bytes_of_tensor(b.get(spec.name)));
  }
  BOOST_TEST(bytes_of_tensor(a.get("embed.weight")) != bytes_of_tensor(c.get("embed.weight")));
  BOOST_TEST(bytes_of_tensor(a.get("proj.weight")) != bytes_of_tensor(c.get("proj.weight")));
  // Two tensors of one shape under one seed still differ: each name has its own stream.
  auto twins = weights::open("random:7", {{"q", dtype::f32, {4, 4}}, {"k", dtype::f32, {4, 4}}});
  BOOST_TEST(bytes_of_tensor(twins.get("q")) != bytes_of_tensor(twins.get("k")));
  // A tensor's values do not depend on the other tensors asked for.
  auto alone = weights::open("random:7", {model[0]});
  BOOST_TEST(bytes_of_tensor(alone.get("embed.weight")) == bytes_of_tensor(a.get("embed.weight")));

  const auto* norm = a.get("norm.weight").data<float>();
  BOOST_TEST(std::all_of(norm, norm + 8, [](float v) { return v == 1.0f; }));
  const auto* bias = a.get("proj.bias").data<float>();
  BOOST_TEST(std::all_of(bias, bias + 32, [](float v) { return v == 0.0f; }));
  const auto* positions = a.get("positions").data<std::int64_t>();
  BOOST_TEST(std::all_of(positions, positions + 5, [](std::int64_t v) { return v == 0; }));
}

BOOST_AUTO_TEST_CASE(random_weights_are_uniform_within_one_over_sqrt_fan_in) {
  auto w = weights::open("random:3", {
                                         {"linear", dtype::f32, {64, 16}},            // fan_in 16
                                         {"in_out", dtype::f32, {64, 16}, weight_fill::uniform, 64},
                                         {"conv", dtype::f32, {8, 4, 3, 3}},           // fan_in 36
                                         {"vector", dtype::f32, {100}},                // fan_in 100
                                     });
  auto range = [&](const std::string& name) {
    const auto& t = w.get(name);
    const auto* v = t.data<float>();
    auto [lo, hi] = std::minmax_element(v, v + t.numel());
    return std::max(-*lo, *hi);
  };
  // Bounded by 1/sqrt(fan_in), and spread to near it (1024 draws fill the range).
  BOOST_TEST(range("linear") <= 0.25f);
  BOOST_TEST(range("linear") > 0.24f);
  BOOST_TEST(range("in_out") <= 0.125f);
  BOOST_TEST(range("in_out") > 0.12f);
  BOOST_TEST(range("conv") <= 1.0f / 6.0f);
  BOOST_TEST(range("vector") <= 0.1f);
}

BOOST_AUTO_TEST_CASE(reduced_precision_random_weights_round_the_f32_values) {
  auto f32 = weights::open("random:5", {{"w", dtype::f32, {3, 10}}});
  auto bf16 = weights::open("random:5", {{"w", dtype::bf16, {3, 10}}});
  auto f16 = weights::open("random:5", {{"w", dtype::f16, {3, 10}}});
  for (int i = 0; i < 30; ++i) {
    const float value = f32.get("w").data<float>()[i];
    BOOST_TEST(bf16.get("w").data<std::uint16_t>()[i] == bf16_from_f32(value));
    BOOST_TEST(f16.get("w").data<std::uint16_t>()[i] == f16_from_f32(value));
  }
}

BOOST_AUTO_TEST_CASE(random_weights_are_pinned_bytes) {
  // The first values of one tensor, as this generator made them when it was written: a change
  // here means every "random:SEED" benchmark and smoke test in the wild changes its numbers.
  auto w = weights::open("random:7", {{"w", dtype::f32, {2, 4}}});
  const auto* v = w.get("w").data<float>();
  std::vector<float> first(v, v + 8);
  BOOST_TEST(first == (std::vector<float>{0x1.ccaa78p-2f, 0x1.aed6ecp-2f, -0x1.02998p-5f, 0x1.e39f8p-6f,
                                          -0x1.be68p-9f, 0x1.0ed16p-4f, -0x1.8f887p-3f, 0x1.50f32cp-2f}),
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(random_specs_must_carry_a_decimal_seed) {
  BOOST_TEST((random_weights_seed("random:0") == std::optional<std::uint64_t>(0)));
  BOOST_TEST((random_weights_seed("random:18446744073709551615") ==
              std::optional<std::uint64_t>(18446744073709551615ull)));
  BOOST_TEST(!random_weights_seed("models/random:1.safetensors"));
  for (std::string spec : {"random:", "random:x1", "random:-1", "random:1.5", "random:18446744073709551616"}) {
    BOOST_TEST(weights_error(spec, {}) ==
               fmt::format("weights = \"{}\": SEED must be a decimal integer below 2^64, as in "
                           "\"random:7\"",
                           spec));
  }
}

// A device with its own memory space in host memory, synchronous, enough for `transfer`.
class fake_device final : public device {
 public:
  fake_device() : device("npu0", "fake", caps()) {}
  std::size_t memory_free() const override { return std::size_t{1} << 30; }
  buffer allocate(std::size_t bytes) override { return buffer::allocate(bytes); }
  void copy_from_host(const std::byte* host, std::byte* to, std::size_t bytes) override {
    std::memcpy(to, host, bytes);
    ++copies;
  }
  void copy_to_host(const std::byte* from, std::byte* host, std::size_t bytes) override {
    std::memcpy(host, from, bytes);
  }
  void copy_within(const std::byte* from, std::byte* to, std::size_t bytes) override {
    std::memcpy(to, from, bytes);
  }
  void gemm(const gemm_args&) override { throw std::invalid_argument("fake_device: no gemm"); }
  int copies = 0;

 private:
  static device_caps caps() {
    device_caps c;
    c.memory_space = "fake:npu0";
    return c;
  }
};

BOOST_AUTO_TEST_CASE(to_device_moves_every_tensor_and_lets_the_file_go) {
  scratch_dir dir;
  const auto path = dir.file("model.safetensors");
  write_file(path, safetensors_bytes(four_dtypes()));
  auto w = weights::open(path, {{"embed.weight", dtype::f32, {2, 3}},
                                {"positions", dtype::i64, {3}}});
  const auto embed_bytes = bytes_of_tensor(w.get("embed.weight"));

  const std::byte* in_file = w.get("embed.weight").raw();
  w.to_device(host_device());  // the same memory space: nothing moves
  BOOST_TEST(w.get("embed.weight").raw() == in_file);
  BOOST_TEST(mapped(path));

  fake_device npu;
  w.to_device(npu);
  BOOST_TEST(npu.copies == 2);
  BOOST_TEST(w.memory_space() == "fake:npu0");
  BOOST_TEST(w.get("embed.weight").device() == "fake:npu0");
  BOOST_TEST(bytes_of_tensor(w.get("embed.weight")) == embed_bytes);
  BOOST_TEST(w.get("positions").data<std::int64_t>()[0] == 7);
  BOOST_TEST(!mapped(path));
}

BOOST_AUTO_TEST_SUITE_END()
