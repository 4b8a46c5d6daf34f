// An n-dimensional view of a buffer: element type, shape, strides (in elements) and the device
// whose memory holds it. Copying a tensor copies the view, never the data.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "devices/buffer.hpp"
#include "devices/dims.hpp"
#include "devices/dtype.hpp"

namespace loom {

using shape_t = dims;

class tensor {
 public:
  tensor() = default;

  // A dense, row-major tensor over `memory`, which must hold at least numel * size_of(type).
  tensor(dtype type, shape_t shape, buffer memory, std::string device = "cpu");

  // A view with explicit strides; throws std::invalid_argument if it would reach past `memory`.
  tensor(dtype type, shape_t shape, shape_t strides, buffer memory, std::string device = "cpu");

  // Fresh zero-filled host memory of the right size.
  static tensor zeros(dtype type, shape_t shape, std::string device = "cpu");

  dtype type() const { return type_; }
  const shape_t& shape() const { return shape_; }
  const shape_t& strides() const { return strides_; }
  std::size_t rank() const { return shape_.size(); }
  const std::string& device() const { return device_; }
  const buffer& memory() const { return memory_; }

  std::int64_t numel() const;
  // Bytes the elements span in memory (what a copy of a dense tensor would move).
  std::size_t nbytes() const { return nbytes_; }
  bool is_contiguous() const;

  std::byte* raw() const { return memory_.data(); }
  template <class T>
  T* data() const { return reinterpret_cast<T*>(memory_.data()); }

  // Rows [begin, end) along the first dimension, sharing memory.
  tensor slice(std::int64_t begin, std::int64_t end) const;
  // The same elements with another shape; only for contiguous tensors; shares memory.
  tensor reshape(shape_t shape) const;

 private:
  dtype type_ = dtype::u8;
  shape_t shape_;
  shape_t strides_;
  buffer memory_;
  std::string device_ = "cpu";
  std::size_t nbytes_ = 0;  // known at construction; sinks ask for it on every packet
};

shape_t contiguous_strides(const shape_t& shape);
std::string to_string(const shape_t& shape);

}  // namespace loom
