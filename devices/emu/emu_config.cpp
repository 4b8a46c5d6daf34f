// emu's `[devices.NAME]` keys (see emu_config.hpp): the declarations loom checks graphs against,
// and the parsing of sizes and rates as people write them.
#include "devices/emu/emu_config.hpp"

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <string_view>

#include <fmt/format.h>

namespace loom::emu {
namespace {

// The pool's allocation unit (emu_pool::alignment); capacities count whole blocks.
constexpr std::size_t block = 64;

const char* const precision_choices[] = {"bf16", "f16", "f32", nullptr};

struct unit {
  std::string_view suffix;
  double bytes;
};

// Longest suffixes first, so that "GiB" is not read as "B" after a number.
constexpr unit units[] = {
    {"KiB", 1024.0}, {"MiB", 1048576.0}, {"GiB", 1073741824.0}, {"TiB", 1099511627776.0},
    {"KB", 1e3},     {"MB", 1e6},        {"GB", 1e9},           {"TB", 1e12},
    {"B", 1.0}};

// A number followed by an optional unit, in bytes; NaN when it does not read as one.
double read_bytes(std::string_view text) {
  const std::string owned(text);
  char* end = nullptr;
  const double number = std::strtod(owned.c_str(), &end);
  if (end == owned.c_str() || !std::isfinite(number) || number < 0) return std::nan("");
  std::string_view rest(end);
  while (!rest.empty() && rest.front() == ' ') rest.remove_prefix(1);
  if (rest.empty()) return number;
  for (const auto& [suffix, bytes] : units)
    if (rest == suffix) return number * bytes;
  return std::nan("");
}

const char* find(const loom_device_param_value* values, std::size_t count, std::string_view key) {
  for (std::size_t i = 0; i < count; ++i)
    if (values[i].key != nullptr && values[i].value != nullptr && key == values[i].key)
      return values[i].value;
  for (std::size_t i = 0; i < emu_param_count; ++i)
    if (key == emu_params[i].key) return emu_params[i].default_value;
  return nullptr;
}

double positive_number(const std::string& key, const char* text) {
  char* end = nullptr;
  const double value = std::strtod(text, &end);
  if (end == text || *end != '\0' || !std::isfinite(value) || value <= 0)
    throw std::invalid_argument(
        fmt::format("{} must be a number greater than 0, not '{}'", key, text));
  return value;
}

}  // namespace

const loom_device_param emu_params[] = {
    {"memory", LOOM_DEVICE_PARAM_STRING, "1GiB",
     "capacity of its memory pool, with a unit: \"512MiB\", \"2GiB\"", nullptr, nullptr, nullptr},
    {"bandwidth", LOOM_DEVICE_PARAM_STRING, "25GB/s",
     "host <-> device copy bandwidth the planner assumes (and `throttle` enforces): \"20GB/s\"",
     nullptr, nullptr, nullptr},
    {"tflops", LOOM_DEVICE_PARAM_NUMBER, "2.0", "f32 matrix-product throughput, TFLOP/s", "0",
     nullptr, nullptr},
    {"reduced_tflops", LOOM_DEVICE_PARAM_NUMBER, "8.0",
     "bf16/f16 matrix-product throughput, TFLOP/s", "0", nullptr, nullptr},
    {"precision", LOOM_DEVICE_PARAM_STRING, "bf16",
     "what matrix products round their inputs to (accumulating in f32), as an NPU's cube unit "
     "does",
     nullptr, nullptr, precision_choices},
    {"throttle", LOOM_DEVICE_PARAM_BOOLEAN, "false",
     "make copies and matrix products take as long as `bandwidth` and the throughput say", nullptr,
     nullptr, nullptr},
};
const std::size_t emu_param_count = sizeof emu_params / sizeof emu_params[0];

std::size_t parse_bytes(const std::string& key, const std::string& text) {
  const double bytes = read_bytes(text);
  if (std::isnan(bytes) || bytes < 1 ||
      bytes >= static_cast<double>(std::numeric_limits<std::size_t>::max()))
    throw std::invalid_argument(
        fmt::format("{} '{}' is not a size such as \"512MiB\" or \"2GiB\"", key, text));
  return static_cast<std::size_t>(bytes);
}

double parse_bytes_per_s(const std::string& key, const std::string& text) {
  constexpr std::string_view per_second = "/s";
  const double bytes = text.size() > per_second.size() && text.ends_with(per_second)
                           ? read_bytes(std::string_view(text).substr(0, text.size() - 2))
                           : std::nan("");
  if (std::isnan(bytes) || bytes <= 0)
    throw std::invalid_argument(
        fmt::format("{} '{}' is not a rate such as \"25GB/s\" or \"800MiB/s\"", key, text));
  return bytes;
}

emu_config parse_emu_config(const char* name, const loom_device_param_value* values,
                            std::size_t count) {
  emu_config config;
  config.name = name;
  config.memory = parse_bytes("memory", find(values, count, "memory"));
  if (config.memory < block)
    throw std::invalid_argument(fmt::format("memory '{}' is less than one block of {} bytes",
                                            find(values, count, "memory"), block));
  config.copy_bytes_per_s = parse_bytes_per_s("bandwidth", find(values, count, "bandwidth"));
  config.flops = positive_number("tflops", find(values, count, "tflops")) * 1e12;
  config.reduced_flops =
      positive_number("reduced_tflops", find(values, count, "reduced_tflops")) * 1e12;

  const std::string_view precision = find(values, count, "precision");
  if (precision == "bf16")
    config.precision = emu_precision::bf16;
  else if (precision == "f16")
    config.precision = emu_precision::f16;
  else if (precision == "f32")
    config.precision = emu_precision::f32;
  else
    throw std::invalid_argument(
        fmt::format("precision '{}' is not one of bf16, f16, f32", precision));

  const std::string_view throttle = find(values, count, "throttle");
  if (throttle != "true" && throttle != "false")
    throw std::invalid_argument(fmt::format("throttle '{}' is not true or false", throttle));
  config.throttle = throttle == "true";
  return config;
}

loom_device_caps emu_caps(const emu_config& config) {
  loom_device_caps caps{};
  const auto space = "emu:" + config.name;
  if (space.size() >= sizeof caps.memory_space)
    throw std::invalid_argument(fmt::format("the name '{}' is longer than {} characters",
                                            config.name, sizeof caps.memory_space - 5));
  std::memcpy(caps.memory_space, space.c_str(), space.size() + 1);
  caps.memory_total = config.memory / block * block;
  caps.async = 0;
  caps.compute_dtypes =
      (1u << LOOM_DEVICE_F32) | (1u << LOOM_DEVICE_BF16) | (1u << LOOM_DEVICE_F16);
  caps.copy_bytes_per_s = config.copy_bytes_per_s;
  caps.flops = config.flops;
  caps.reduced_flops = config.reduced_flops;
  caps.numa_node = -1;
  return caps;
}

}  // namespace loom::emu
