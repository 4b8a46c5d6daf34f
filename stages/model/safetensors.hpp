// Reading a .safetensors file into tensors without copying it. The format: an 8-byte
// little-endian header length N, N bytes of JSON naming each tensor's dtype, shape and byte range
// (`data_offsets`, relative to the data), then the data. The file is memory-mapped read-only and
// each tensor is a view of the mapping; the mapping goes when the last view (or this object) goes,
// so a model holds its weights in the page cache and nowhere else.
//
// Files come from anywhere, so everything is checked before a tensor is handed out, as the
// reference implementation does: the header length against the file and a 100 MiB limit, the
// JSON, each dtype and shape, and that the tensors' byte ranges tile the data exactly (in
// order, no overlap, no gap, nothing past the end or after the last tensor). Every error is a
// std::runtime_error naming the file and, where there is one, the tensor.
//
// The tensors are read-only: writing through one faults. A tensor whose data is not aligned to
// its element size (possible in a hand-made file; writers align) is copied into aligned memory,
// and `copied_bytes` counts it.
#pragma once

#include <cstddef>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "devices/tensor.hpp"

namespace loom {

class safetensors_file {
 public:
  // The header length a file may declare; real headers are a few MiB at most.
  static constexpr std::size_t max_header_bytes = std::size_t{100} << 20;

  static safetensors_file open(const std::string& path);

  const std::string& path() const { return path_; }
  // Tensor names in the order of their data in the file.
  const std::vector<std::string>& names() const { return names_; }
  const tensor* find(std::string_view name) const;
  // Throws std::runtime_error naming the file and the tensor when it is absent.
  const tensor& get(std::string_view name) const;
  // The free-form string pairs of the header's "__metadata__".
  const std::map<std::string, std::string, std::less<>>& metadata() const { return metadata_; }

  // The mapping of the whole file, which the tensors' data points into.
  const buffer& mapping() const { return mapping_; }
  // Bytes copied because their tensor was not aligned in the file; 0 for files writers make.
  std::size_t copied_bytes() const { return copied_bytes_; }

 private:
  std::string path_;
  buffer mapping_;
  std::vector<std::string> names_;
  std::map<std::string, tensor, std::less<>> tensors_;
  std::map<std::string, std::string, std::less<>> metadata_;
  std::size_t copied_bytes_ = 0;
};

// The safetensors spelling of a dtype ("F32", "BF16", ...), for writers and messages.
std::string_view safetensors_dtype_name(dtype type);

}  // namespace loom
