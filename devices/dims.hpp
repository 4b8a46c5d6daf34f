// Shapes and strides: up to eight dimensions stored inline, so that copying a tensor — which
// happens on every hop of a pipeline — allocates nothing.
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <stdexcept>
#include <vector>

namespace loom {

class dims {
 public:
  static constexpr std::size_t max_rank = 8;
  using value_type = std::int64_t;
  using iterator = std::int64_t*;
  using const_iterator = const std::int64_t*;

  dims() = default;
  dims(std::initializer_list<std::int64_t> values) : dims(values.begin(), values.end()) {}
  dims(const std::vector<std::int64_t>& values) : dims(values.begin(), values.end()) {}
  explicit dims(std::size_t rank, std::int64_t value = 0) {
    resize(rank);
    std::fill(begin(), end(), value);
  }
  template <class It>
  dims(It first, It last) {
    for (; first != last; ++first) push_back(*first);
  }

  std::size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  std::int64_t& operator[](std::size_t i) { return values_[i]; }
  std::int64_t operator[](std::size_t i) const { return values_[i]; }
  std::int64_t* begin() { return values_.data(); }
  std::int64_t* end() { return values_.data() + size_; }
  const std::int64_t* begin() const { return values_.data(); }
  const std::int64_t* end() const { return values_.data() + size_; }
  std::int64_t front() const { return values_[0]; }
  std::int64_t back() const { return values_[size_ - 1]; }

  void push_back(std::int64_t value) {
    if (size_ == max_rank) throw std::length_error("tensors have at most 8 dimensions");
    values_[size_++] = value;
  }
  void resize(std::size_t rank) {
    if (rank > max_rank) throw std::length_error("tensors have at most 8 dimensions");
    size_ = static_cast<std::uint8_t>(rank);
  }

  friend bool operator==(const dims& a, const dims& b) {
    return std::equal(a.begin(), a.end(), b.begin(), b.end());
  }

 private:
  std::array<std::int64_t, max_rank> values_{};
  std::uint8_t size_ = 0;
};

}  // namespace loom
