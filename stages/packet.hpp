// What flows on an edge: named tensors plus where and when they came from. A packet is
// immutable once emitted (`packet_ptr` points to const), so fan-out shares it between consumers.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "devices/tensor.hpp"

namespace loom {

struct named_tensor {
  std::string name;
  tensor value;
};

struct packet {
  std::uint64_t stream_id = 0;
  std::uint64_t sequence = 0;     // position in its stream, assigned by the source
  std::int64_t timestamp_us = 0;  // media time of the content
  std::int64_t created_ns = 0;    // steady-clock time the source made it; latency starts here
  std::vector<named_tensor> tensors;
  std::vector<std::pair<std::string, std::string>> metadata;

  // The tensor called `name`; throws std::out_of_range naming what the packet does hold.
  const tensor& at(std::string_view name) const;
  const tensor* find(std::string_view name) const;
  void set(std::string name, tensor value);

  const std::string* meta(std::string_view key) const;

  // Bytes held by all its tensors.
  std::size_t payload_bytes() const;

  // A new packet for the same stream position: identity and times copied, no tensors.
  packet derive() const;
};

using packet_ptr = std::shared_ptr<const packet>;

std::int64_t steady_now_ns();

}  // namespace loom
