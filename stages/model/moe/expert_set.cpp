#include "stages/model/moe/expert_set.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <stdexcept>

#include <fmt/format.h>

namespace loom {
namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

std::int64_t expert_index(std::string_view text, std::string_view whole, std::int64_t experts) {
  text = trim(text);
  std::int64_t value = -1;
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || error != std::errc() || end != text.data() + text.size() || value < 0)
    throw std::invalid_argument(fmt::format(
        "\"{}\" is not a list of expert indices or ranges such as \"0-7\" or \"0-3, 8\"", whole));
  if (value >= experts)
    throw std::invalid_argument(fmt::format(
        "expert {} in \"{}\" is out of range: the layer has {} experts, 0-{}", value, whole,
        experts, experts - 1));
  return value;
}

}  // namespace

std::vector<std::int64_t> parse_expert_set(std::string_view text, std::int64_t experts) {
  std::vector<std::int64_t> out;
  std::string_view rest = text;
  while (true) {
    auto comma = rest.find(',');
    auto part = rest.substr(0, comma);
    auto dash = part.find('-');
    std::int64_t first = expert_index(part.substr(0, dash), text, experts);
    std::int64_t last = dash == std::string_view::npos
                            ? first
                            : expert_index(part.substr(dash + 1), text, experts);
    if (last < first)
      throw std::invalid_argument(
          fmt::format("the range \"{}\" in \"{}\" runs backwards; write it \"{}-{}\"",
                      trim(part), text, last, first));
    for (auto e = first; e <= last; ++e) out.push_back(e);
    if (comma == std::string_view::npos) break;
    rest.remove_prefix(comma + 1);
  }
  std::sort(out.begin(), out.end());
  auto repeat = std::adjacent_find(out.begin(), out.end());
  if (repeat != out.end())
    throw std::invalid_argument(fmt::format("\"{}\" names expert {} twice", text, *repeat));
  return out;
}

std::string expert_set_text(const std::vector<std::int64_t>& experts) {
  std::string out;
  for (std::size_t i = 0; i < experts.size();) {
    std::size_t j = i;
    while (j + 1 < experts.size() && experts[j + 1] == experts[j] + 1) ++j;
    if (!out.empty()) out += ", ";
    out += i == j ? std::to_string(experts[i]) : fmt::format("{}-{}", experts[i], experts[j]);
    i = j + 1;
  }
  return out;
}

}  // namespace loom
