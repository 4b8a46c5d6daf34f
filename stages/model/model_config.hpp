// A model's configuration: the config.json that sits beside its weights, as Hugging Face writes
// it ({"hidden_size": 1024, "rms_norm_eps": 1e-06, "hidden_act": "silu", ...}). A model stage
// reads its sizes from here, so every getter is typed and a missing key or a value of the wrong
// type is an error naming the file and the key. Nested sections (a multimodal model's
// "vision_config") are reached with dotted keys: "vision_config.hidden_size".
//
//   auto config = model_config::load("models/tiny/config.json");
//   auto d_model = config.integer("hidden_size");
//   auto eps = config.number("rms_norm_eps", 1e-6);
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace loom {

class json_value;

class model_config {
 public:
  // Reads and parses a file; throws std::runtime_error naming it.
  static model_config load(const std::string& path);
  // Parses `text`; `source` names it in errors (a path, or "<inline>").
  static model_config parse(std::string_view text, std::string source);

  const std::string& source() const { return source_; }
  bool contains(std::string_view key) const;

  // Each throws std::runtime_error naming the file and the key when the key is missing or its
  // value has another type. `integer` takes only integer literals (4096, not 4096.0); `number`
  // takes any number.
  std::int64_t integer(std::string_view key) const;
  double number(std::string_view key) const;
  const std::string& string(std::string_view key) const;
  bool boolean(std::string_view key) const;

  // The same, with a value for a missing key (a key that is present must still have the type).
  std::int64_t integer(std::string_view key, std::int64_t fallback) const;
  double number(std::string_view key, double fallback) const;
  std::string string(std::string_view key, std::string_view fallback) const;
  bool boolean(std::string_view key, bool fallback) const;

 private:
  const json_value* find(std::string_view key) const;
  const json_value& require(std::string_view key) const;
  [[noreturn]] void wrong_type(std::string_view key, const json_value& value,
                               std::string_view expected) const;

  std::string source_;
  std::shared_ptr<const json_value> root_;  // shared: a config is copied into each stage
};

}  // namespace loom
