// The safetensors reader (see safetensors.hpp): map the file, check the header and every tensor
// entry against the file, then hand out views of the mapping.
#include "stages/model/safetensors.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <limits>
#include <optional>
#include <set>
#include <stdexcept>
#include <tuple>

#include <fmt/format.h>

#include "stages/json_text.hpp"
#include "stages/model/json_value.hpp"

namespace loom {
namespace {

constexpr std::size_t length_bytes = 8;

struct entry {
  std::string name;
  dtype type;
  shape_t shape;
  std::uint64_t begin = 0, end = 0;
};

std::optional<dtype> dtype_from_safetensors(std::string_view name) {
  for (dtype type : {dtype::f32, dtype::bf16, dtype::f16, dtype::i32, dtype::i64, dtype::u8})
    if (safetensors_dtype_name(type) == name) return type;
  return std::nullopt;
}

// Checks one header entry; `data_size` is the number of bytes after the header.
class entry_reader {
 public:
  entry_reader(const std::string& path, const std::string& name, std::uint64_t data_size)
      : path_(path), name_(name), data_size_(data_size) {}

  entry read(const json_value& value) const {
    if (!value.is_object())
      fail(fmt::format("the entry is {}, expected an object with dtype, shape and data_offsets",
                       json_kind_name(value)));
    entry e{name_, read_dtype(field(value, "dtype")), read_shape(field(value, "shape")), 0, 0};
    read_offsets(field(value, "data_offsets"), e);
    return e;
  }

 private:
  [[noreturn]] void fail(std::string_view what) const {
    throw std::runtime_error(fmt::format("{}: tensor {}: {}", path_, json_string(name_), what));
  }

  const json_value& field(const json_value& value, std::string_view key) const {
    if (const auto* found = value.find(key)) return *found;
    fail(fmt::format("the entry has no \"{}\"", key));
  }

  dtype read_dtype(const json_value& value) const {
    if (!value.is_string())
      fail(fmt::format("\"dtype\" is {}, expected a string such as \"F32\"", json_kind_name(value)));
    if (auto type = dtype_from_safetensors(value.string())) return *type;
    fail(fmt::format("dtype {} is not one loom reads (F32, BF16, F16, I32, I64, U8)",
                     json_string(value.string())));
  }

  shape_t read_shape(const json_value& value) const {
    if (!value.is_array())
      fail(fmt::format("\"shape\" is {}, expected an array of dimensions", json_kind_name(value)));
    if (value.items().size() > dims::max_rank)
      fail(fmt::format("the shape has {} dimensions; loom tensors have at most {}",
                       value.items().size(), dims::max_rank));
    shape_t shape;
    for (std::size_t i = 0; i < value.items().size(); ++i) {
      const auto& item = value.items()[i];
      if (!item.is_number() || !item.integer() || *item.integer() < 0)
        fail(fmt::format("shape {}: dimension {} is {}; dimensions are non-negative integers",
                         json_excerpt(value), i, json_excerpt(item)));
      shape.push_back(*item.integer());
    }
    return shape;
  }

  void read_offsets(const json_value& value, entry& e) const {
    const bool well_formed = value.is_array() && value.items().size() == 2 &&
                             std::all_of(value.items().begin(), value.items().end(), [](auto& v) {
                               return v.is_number() && v.integer() && *v.integer() >= 0;
                             });
    if (!well_formed)
      fail(fmt::format("\"data_offsets\" is {}, expected [begin, end] as non-negative integers",
                       json_excerpt(value)));
    e.begin = static_cast<std::uint64_t>(*value.items()[0].integer());
    e.end = static_cast<std::uint64_t>(*value.items()[1].integer());
    if (e.begin > e.end) fail(fmt::format("data_offsets [{}, {}] are out of order", e.begin, e.end));
    if (e.end > data_size_)
      fail(fmt::format("data_offsets [{}, {}] reach past the end of the data ({} bytes); the file "
                       "is truncated or the header is wrong",
                       e.begin, e.end, data_size_));
    // Checked products: a hostile shape must not wrap around to a size that happens to fit.
    std::uint64_t bytes = size_of(e.type);
    for (auto d : e.shape)
      if (__builtin_mul_overflow(bytes, static_cast<std::uint64_t>(d), &bytes) ||
          bytes > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
        fail(fmt::format("shape {} holds more bytes than 64 bits count", to_string(e.shape)));
    if (e.end - e.begin != bytes)
      fail(fmt::format("data_offsets [{}, {}] hold {} bytes, but {} {} needs {}", e.begin, e.end,
                       e.end - e.begin, safetensors_dtype_name(e.type), to_string(e.shape), bytes));
  }

  const std::string& path_;
  const std::string& name_;
  std::uint64_t data_size_;
};

// The whole file, mapped read-only; unmapped when the last view of the buffer goes.
buffer map_file(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw std::runtime_error(fmt::format("{}: cannot open: {}", path, std::strerror(errno)));
  struct stat info {};
  if (::fstat(fd, &info) != 0 || !S_ISREG(info.st_mode)) {
    ::close(fd);
    throw std::runtime_error(fmt::format("{}: not a regular file", path));
  }
  const auto size = static_cast<std::size_t>(info.st_size);
  if (size < length_bytes) {
    ::close(fd);
    throw std::runtime_error(fmt::format(
        "{}: truncated: {} bytes, too short for the 8-byte header length", path, size));
  }
  void* address = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
  const int map_error = errno;
  ::close(fd);  // the mapping keeps the file open
  if (address == MAP_FAILED)
    throw std::runtime_error(fmt::format("{}: cannot map: {}", path, std::strerror(map_error)));
  return buffer::adopt(static_cast<std::byte*>(address), size, [address, size] {
    ::munmap(address, size);
  });
}

std::uint64_t read_little_endian(const std::byte* bytes) {
  std::uint64_t value = 0;
  for (std::size_t i = length_bytes; i-- > 0;)
    value = (value << 8) | static_cast<std::uint64_t>(bytes[i]);
  return value;
}

std::map<std::string, std::string, std::less<>> read_metadata(const std::string& path,
                                                              const json_value& value) {
  if (!value.is_object())
    throw std::runtime_error(fmt::format("{}: \"__metadata__\" is {}, expected an object of strings",
                                         path, json_kind_name(value)));
  std::map<std::string, std::string, std::less<>> metadata;
  for (const auto& [key, item] : value.members()) {
    if (!item.is_string())
      throw std::runtime_error(fmt::format("{}: \"__metadata__\" {} is {}, expected a string", path,
                                           json_string(key), json_kind_name(item)));
    metadata[key] = item.string();
  }
  return metadata;
}

// The data must be tiled by the tensors: sorted by offset, each starts where the one before
// ends and the last ends with the file. A gap could hide data; an overlap aliases two tensors.
void check_tiling(const std::string& path, std::vector<entry>& entries, std::uint64_t data_size) {
  std::sort(entries.begin(), entries.end(), [](const entry& a, const entry& b) {
    return std::tie(a.begin, a.end) < std::tie(b.begin, b.end);
  });
  std::uint64_t covered = 0;
  const entry* previous = nullptr;
  for (const auto& e : entries) {
    if (e.begin < covered)
      throw std::runtime_error(fmt::format(
          "{}: tensor {} (bytes [{}, {})) overlaps tensor {} (bytes [{}, {}))", path,
          json_string(e.name), e.begin, e.end, json_string(previous->name), previous->begin,
          previous->end));
    if (e.begin > covered)
      throw std::runtime_error(fmt::format(
          "{}: bytes [{}, {}) of the data, before tensor {}, belong to no tensor", path, covered,
          e.begin, json_string(e.name)));
    covered = e.end;
    previous = &e;
  }
  if (covered != data_size)
    throw std::runtime_error(fmt::format(
        "{}: bytes [{}, {}) at the end of the data belong to no tensor", path, covered, data_size));
}

}  // namespace

std::string_view safetensors_dtype_name(dtype type) {
  switch (type) {
    case dtype::u8: return "U8";
    case dtype::i32: return "I32";
    case dtype::i64: return "I64";
    case dtype::f16: return "F16";
    case dtype::bf16: return "BF16";
    case dtype::f32: return "F32";
  }
  return "?";
}

safetensors_file safetensors_file::open(const std::string& path) {
  safetensors_file file;
  file.path_ = path;
  file.mapping_ = map_file(path);
  const std::byte* base = file.mapping_.data();
  const std::uint64_t size = file.mapping_.size();

  const std::uint64_t header_bytes = read_little_endian(base);
  if (header_bytes > max_header_bytes)
    throw std::runtime_error(fmt::format(
        "{}: the header length is {} bytes, over the limit of 100 MiB", path, header_bytes));
  if (header_bytes > size - length_bytes)
    throw std::runtime_error(fmt::format(
        "{}: truncated: the header length is {} bytes but only {} bytes follow it", path,
        header_bytes, size - length_bytes));

  json_value header;
  try {
    header = parse_json({reinterpret_cast<const char*>(base + length_bytes), header_bytes});
  } catch (const json_error& e) {
    throw std::runtime_error(fmt::format("{}: the header is not valid JSON: {}", path, e.what()));
  }
  if (!header.is_object())
    throw std::runtime_error(
        fmt::format("{}: the header is {}, expected a JSON object", path, json_kind_name(header)));

  const std::uint64_t data_start = length_bytes + header_bytes;
  const std::uint64_t data_size = size - data_start;
  std::vector<entry> entries;
  std::set<std::string_view> seen;
  for (const auto& [key, value] : header.members()) {
    if (!seen.insert(key).second)
      throw std::runtime_error(
          fmt::format("{}: tensor {} is listed twice in the header", path, json_string(key)));
    if (key == "__metadata__")
      file.metadata_ = read_metadata(path, value);
    else
      entries.push_back(entry_reader(path, key, data_size).read(value));
  }
  check_tiling(path, entries, data_size);

  for (auto& e : entries) {
    const auto bytes = static_cast<std::size_t>(e.end - e.begin);
    buffer memory = file.mapping_.share(static_cast<std::size_t>(data_start + e.begin), bytes);
    if (reinterpret_cast<std::uintptr_t>(memory.data()) % size_of(e.type) != 0) {
      buffer aligned = buffer::allocate(bytes);
      std::memcpy(aligned.data(), memory.data(), bytes);
      memory = std::move(aligned);
      file.copied_bytes_ += bytes;
    }
    file.names_.push_back(e.name);
    file.tensors_.emplace(e.name, tensor(e.type, e.shape, std::move(memory)));
  }
  return file;
}

const tensor* safetensors_file::find(std::string_view name) const {
  auto it = tensors_.find(name);
  return it == tensors_.end() ? nullptr : &it->second;
}

const tensor& safetensors_file::get(std::string_view name) const {
  if (const auto* t = find(name)) return *t;
  throw std::runtime_error(
      fmt::format("{}: there is no tensor {}", path_, json_string(name)));
}

}  // namespace loom
