// Tensors whose bytes follow a pattern per seed, for tests that check payloads arrive bit for
// bit (the wire codec, ZeroMQ framing).
#pragma once

#include <cstddef>
#include <vector>

#include "devices/tensor.hpp"

namespace loom::test {

inline tensor patterned(dtype type, shape_t shape, unsigned seed) {
  auto t = tensor::zeros(type, shape);
  for (std::size_t i = 0; i < t.nbytes(); ++i)
    t.raw()[i] = static_cast<std::byte>((seed * 131 + i * 31 + i / 7) & 0xff);
  return t;
}

inline std::vector<std::byte> bytes_of(const tensor& t) {
  return std::vector<std::byte>(t.raw(), t.raw() + t.nbytes());
}

}  // namespace loom::test
