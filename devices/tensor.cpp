#include "devices/tensor.hpp"

#include <stdexcept>

#include <fmt/format.h>
#include <fmt/ranges.h>

namespace loom {
namespace {

std::int64_t element_count(const shape_t& shape) {
  std::int64_t n = 1;
  for (auto d : shape) {
    if (d < 0) throw std::invalid_argument(fmt::format("negative dimension in shape {}", to_string(shape)));
    n *= d;
  }
  return n;
}

// Elements between the first and one past the last element reachable through the strides.
std::int64_t span_elements(const shape_t& shape, const shape_t& strides) {
  if (element_count(shape) == 0) return 0;
  std::int64_t last = 0;
  for (std::size_t i = 0; i < shape.size(); ++i) {
    if (strides[i] < 0) throw std::invalid_argument("negative strides are not supported");
    last += (shape[i] - 1) * strides[i];
  }
  return last + 1;
}

}  // namespace

shape_t contiguous_strides(const shape_t& shape) {
  shape_t strides(shape.size());
  std::int64_t step = 1;
  for (std::size_t i = shape.size(); i-- > 0;) {
    strides[i] = step;
    step *= shape[i];
  }
  return strides;
}

std::string to_string(const shape_t& shape) { return fmt::format("[{}]", fmt::join(shape, ", ")); }

tensor::tensor(dtype type, shape_t shape, buffer memory, std::string device)
    : tensor(type, shape, contiguous_strides(shape), std::move(memory), std::move(device)) {}

tensor::tensor(dtype type, shape_t shape, shape_t strides, buffer memory, std::string device)
    : type_(type), shape_(std::move(shape)), strides_(std::move(strides)),
      memory_(std::move(memory)), device_(std::move(device)) {
  if (strides_.size() != shape_.size())
    throw std::invalid_argument(fmt::format("tensor of rank {} given {} strides", shape_.size(),
                                            strides_.size()));
  auto needed = static_cast<std::size_t>(span_elements(shape_, strides_)) * size_of(type_);
  nbytes_ = needed;
  if (needed > memory_.size())
    throw std::invalid_argument(fmt::format("tensor {} {} needs {} bytes, its buffer has {}",
                                            name_of(type_), to_string(shape_), needed,
                                            memory_.size()));
}

tensor tensor::zeros(dtype type, shape_t shape, std::string device) {
  auto bytes = static_cast<std::size_t>(element_count(shape)) * size_of(type);
  return tensor(type, std::move(shape), buffer::allocate(bytes), std::move(device));
}

std::int64_t tensor::numel() const { return element_count(shape_); }

bool tensor::is_contiguous() const { return strides_ == contiguous_strides(shape_); }

tensor tensor::slice(std::int64_t begin, std::int64_t end) const {
  if (shape_.empty()) throw std::invalid_argument("cannot slice a scalar tensor");
  if (begin < 0 || end < begin || end > shape_[0])
    throw std::out_of_range(fmt::format("slice [{}, {}) of a dimension of size {}", begin, end,
                                        shape_[0]));
  shape_t shape = shape_;
  shape[0] = end - begin;
  auto offset = static_cast<std::size_t>(begin * strides_[0]) * size_of(type_);
  auto bytes = static_cast<std::size_t>(span_elements(shape, strides_)) * size_of(type_);
  return tensor(type_, std::move(shape), strides_, memory_.share(offset, bytes), device_);
}

tensor tensor::reshape(shape_t shape) const {
  if (!is_contiguous()) throw std::invalid_argument("reshape needs a contiguous tensor");
  if (element_count(shape) != numel())
    throw std::invalid_argument(fmt::format("cannot reshape {} into {}", to_string(shape_),
                                            to_string(shape)));
  return tensor(type_, std::move(shape), memory_, device_);
}

}  // namespace loom
