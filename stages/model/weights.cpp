// A model's weights from a safetensors file or a seed (see weights.hpp): matching a file against
// what the model expects, and generating the random tensors.
#include "stages/model/weights.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstring>
#include <numeric>
#include <random>
#include <set>
#include <stdexcept>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "devices/float_convert.hpp"
#include "devices/transfer.hpp"
#include "stages/json_text.hpp"
#include "stages/model/safetensors.hpp"

namespace loom {
namespace {

std::string describe(dtype type, const shape_t& shape) {
  return fmt::format("{} {}", name_of(type), to_string(shape));
}

// Edit distance with two rows; names are short.
std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> previous(b.size() + 1), current(b.size() + 1);
  std::iota(previous.begin(), previous.end(), std::size_t{0});
  for (std::size_t i = 1; i <= a.size(); ++i) {
    current[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j)
      current[j] = std::min({previous[j] + 1, current[j - 1] + 1,
                             previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)});
    std::swap(previous, current);
  }
  return previous[b.size()];
}

// "; did you mean "x" or "y"?" for up to three names close to `wanted`: a few edits away, or
// the same name under another prefix ("model.layers.0..." for "layers.0...").
std::string did_you_mean(std::string_view wanted, const std::vector<std::string>& candidates) {
  const std::size_t limit = std::max<std::size_t>(2, wanted.size() / 4);
  std::vector<std::pair<std::size_t, std::string_view>> close;
  for (const auto& name : candidates) {
    const std::string_view other = name;
    const bool prefixed = (other.size() > wanted.size() && other.ends_with(wanted) &&
                           other[other.size() - wanted.size() - 1] == '.') ||
                          (wanted.size() > other.size() && wanted.ends_with(other) &&
                           wanted[wanted.size() - other.size() - 1] == '.');
    // The length difference bounds the distance from below: skip the far ones unexamined.
    const std::size_t gap = other.size() > wanted.size() ? other.size() - wanted.size()
                                                         : wanted.size() - other.size();
    if (prefixed) close.emplace_back(0, other);
    else if (gap <= limit)
      if (auto d = edit_distance(wanted, other); d <= limit) close.emplace_back(d, other);
  }
  if (close.empty()) return "";
  std::sort(close.begin(), close.end());
  close.resize(std::min<std::size_t>(close.size(), 3));
  std::string list = json_string(close[0].second);
  for (std::size_t i = 1; i < close.size(); ++i)
    list += (i + 1 == close.size() ? " or " : ", ") + json_string(close[i].second);
  return fmt::format("; did you mean {}?", list);
}

void check_expected(const std::vector<weight_spec>& expected) {
  std::set<std::string_view> names;
  for (const auto& spec : expected) {
    if (!names.insert(spec.name).second)
      throw std::invalid_argument(
          fmt::format("weights: tensor {} is expected twice", json_string(spec.name)));
    for (auto d : spec.shape)
      if (d < 0)
        throw std::invalid_argument(fmt::format("weights: tensor {} has a negative dimension in {}",
                                                json_string(spec.name), to_string(spec.shape)));
    if (spec.fan_in < 0)
      throw std::invalid_argument(
          fmt::format("weights: tensor {} has fan_in {}", json_string(spec.name), spec.fan_in));
  }
}

// FNV-1a then a splitmix64 finaliser: a fixed, portable mix of the seed and the tensor's name,
// so that each tensor has its own stream.
std::uint64_t tensor_seed(std::uint64_t seed, std::string_view name) {
  std::uint64_t hash = 0xcbf29ce484222325ull;
  for (char c : name) hash = (hash ^ static_cast<unsigned char>(c)) * 0x100000001b3ull;
  std::uint64_t z = seed ^ hash;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

std::int64_t default_fan_in(const shape_t& shape) {
  if (shape.empty()) return 1;
  if (shape.size() == 1) return shape[0];
  return std::accumulate(shape.begin() + 1, shape.end(), std::int64_t{1}, std::multiplies<>());
}

void store(std::byte* at, dtype type, float value) {
  switch (type) {
    case dtype::f32: std::memcpy(at, &value, 4); return;
    case dtype::bf16: {
      auto bits = bf16_from_f32(value);
      std::memcpy(at, &bits, 2);
      return;
    }
    case dtype::f16: {
      auto bits = f16_from_f32(value);
      std::memcpy(at, &bits, 2);
      return;
    }
    case dtype::i32: {
      auto v = static_cast<std::int32_t>(value);
      std::memcpy(at, &v, 4);
      return;
    }
    case dtype::i64: {
      auto v = static_cast<std::int64_t>(value);
      std::memcpy(at, &v, 8);
      return;
    }
    case dtype::u8: *at = static_cast<std::byte>(static_cast<std::uint8_t>(value)); return;
  }
}

bool is_float(dtype type) { return type == dtype::f32 || type == dtype::bf16 || type == dtype::f16; }

tensor random_tensor(std::uint64_t seed, const weight_spec& spec) {
  tensor t = tensor::zeros(spec.type, spec.shape);
  const auto count = static_cast<std::size_t>(t.numel());
  const auto element = size_of(spec.type);
  if (spec.fill == weight_fill::zeros || (spec.fill == weight_fill::uniform && !is_float(spec.type)))
    return t;
  if (spec.fill == weight_fill::ones) {
    for (std::size_t i = 0; i < count; ++i) store(t.raw() + i * element, spec.type, 1.0f);
    return t;
  }
  const std::int64_t fan_in = spec.fan_in > 0 ? spec.fan_in : std::max<std::int64_t>(1, default_fan_in(spec.shape));
  const float bound = 1.0f / std::sqrt(static_cast<float>(fan_in));
  std::mt19937_64 generator(tensor_seed(seed, spec.name));
  for (std::size_t i = 0; i < count; ++i) {
    // Scaled 24-bit integers: exact and identical wherever the library runs.
    float unit = static_cast<float>(generator() >> 40) / static_cast<float>(1 << 24);
    store(t.raw() + i * element, spec.type, (2.0f * unit - 1.0f) * bound);
  }
  return t;
}

}  // namespace

std::optional<std::uint64_t> random_weights_seed(std::string_view spec) {
  constexpr std::string_view prefix = "random:";
  if (!spec.starts_with(prefix)) return std::nullopt;
  const std::string_view digits = spec.substr(prefix.size());
  std::uint64_t seed = 0;
  auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), seed);
  if (digits.empty() || error != std::errc() || end != digits.data() + digits.size())
    throw std::invalid_argument(fmt::format(
        "weights = {}: SEED must be a decimal integer below 2^64, as in \"random:7\"",
        json_string(spec)));
  return seed;
}

weights weights::open(const std::string& spec, const std::vector<weight_spec>& expected) {
  check_expected(expected);
  weights result;
  result.source_ = spec;
  if (auto seed = random_weights_seed(spec)) {
    for (const auto& want : expected) result.tensors_.emplace(want.name, random_tensor(*seed, want));
    return result;
  }

  const auto file = safetensors_file::open(spec);
  std::vector<std::string> problems;
  for (const auto& want : expected) {
    const tensor* found = file.find(want.name);
    if (!found) {
      std::vector<std::string> candidates;
      for (const auto& name : file.names())
        if (std::none_of(expected.begin(), expected.end(), [&](auto& e) { return e.name == name; }))
          candidates.push_back(name);
      problems.push_back(fmt::format("{}: tensor {} is missing (expected {}){}", spec,
                                     json_string(want.name), describe(want.type, want.shape),
                                     did_you_mean(want.name, candidates)));
    } else if (found->type() != want.type || !(found->shape() == want.shape)) {
      problems.push_back(fmt::format("{}: tensor {}: expected {}, found {}", spec,
                                     json_string(want.name), describe(want.type, want.shape),
                                     describe(found->type(), found->shape())));
    } else {
      result.tensors_.emplace(want.name, *found);
    }
  }
  if (!problems.empty()) throw std::runtime_error(fmt::format("{}", fmt::join(problems, "\n")));
  for (const auto& name : file.names())
    if (!result.contains(name)) result.unused_.push_back(name);
  return result;
}

bool weights::contains(std::string_view name) const { return tensors_.find(name) != tensors_.end(); }

const tensor& weights::get(std::string_view name) const {
  auto it = tensors_.find(name);
  if (it == tensors_.end())
    throw std::out_of_range(fmt::format("{}: the model did not ask for tensor {}", source_,
                                        json_string(name)));
  return it->second;
}

std::size_t weights::bytes() const {
  std::size_t total = 0;
  for (const auto& [name, t] : tensors_) total += t.nbytes();
  return total;
}

void weights::to_device(device& to) {
  // Into a new map first, so that a failed copy leaves these weights as they were.
  std::map<std::string, tensor, std::less<>> moved;
  for (const auto& [name, t] : tensors_) moved.emplace(name, transfer(t, *device_, to));
  tensors_ = std::move(moved);
  device_ = &to;
}

}  // namespace loom
