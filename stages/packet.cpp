#include "stages/packet.hpp"

#include <chrono>
#include <stdexcept>

#include <fmt/format.h>

namespace loom {

const tensor* packet::find(std::string_view name) const {
  for (const auto& t : tensors)
    if (t.name == name) return &t.value;
  return nullptr;
}

const tensor& packet::at(std::string_view name) const {
  if (auto* t = find(name)) return *t;
  std::string held;
  for (const auto& t : tensors) held += (held.empty() ? "" : ", ") + t.name;
  throw std::out_of_range(fmt::format("packet has no tensor '{}' (it holds: {})", name,
                                      held.empty() ? "none" : held));
}

void packet::set(std::string name, tensor value) {
  for (auto& t : tensors)
    if (t.name == name) {
      t.value = std::move(value);
      return;
    }
  tensors.push_back({std::move(name), std::move(value)});
}

const std::string* packet::meta(std::string_view key) const {
  for (const auto& [k, v] : metadata)
    if (k == key) return &v;
  return nullptr;
}

std::size_t packet::payload_bytes() const {
  std::size_t bytes = 0;
  for (const auto& t : tensors) bytes += t.value.nbytes();
  return bytes;
}

packet packet::derive() const {
  packet p;
  p.stream_id = stream_id;
  p.sequence = sequence;
  p.timestamp_us = timestamp_us;
  p.created_ns = created_ns;
  p.metadata = metadata;
  return p;
}

std::int64_t steady_now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace loom
