#include "devices/transfer.hpp"

#include <cstring>
#include <stdexcept>

#include <fmt/format.h>

namespace loom {
namespace {

// A dense host copy of a strided host tensor, so that every device copy moves one span.
tensor compact_on_host(const tensor& t) {
  if (t.is_contiguous()) return t;
  auto dense = tensor::zeros(t.type(), t.shape());
  const auto element = size_of(t.type());
  const auto rank = t.rank();
  std::vector<std::int64_t> index(rank, 0);
  auto* out = dense.raw();
  for (std::int64_t n = 0; n < t.numel(); ++n) {
    std::int64_t offset = 0;
    for (std::size_t d = 0; d < rank; ++d) offset += index[d] * t.strides()[d];
    std::memcpy(out + n * element, t.raw() + offset * element, element);
    for (std::size_t d = rank; d-- > 0;) {
      if (++index[d] < t.shape()[d]) break;
      index[d] = 0;
    }
  }
  return dense;
}

}  // namespace

tensor transfer(const tensor& t, device& from, device& to) {
  if (t.device() != from.memory_space())
    throw std::invalid_argument(fmt::format(
        "a tensor in memory space '{}' cannot be moved from device '{}' (memory space '{}')",
        t.device(), from.name(), from.memory_space()));
  if (from.memory_space() == to.memory_space()) return t;

  const bool from_host = from.memory_space() == host_memory_space;
  const bool to_host = to.memory_space() == host_memory_space;
  if (!t.is_contiguous() && !from_host)
    throw std::invalid_argument(fmt::format(
        "device '{}' holds a strided tensor; only dense tensors leave a device", from.name()));
  const tensor source = from_host ? compact_on_host(t) : t;
  const std::size_t bytes = source.nbytes();
  tensor moved = to.allocate_tensor(source.type(), source.shape());

  if (from_host) {
    to.copy_from_host(source.raw(), moved.raw(), bytes);
    to.synchronize();
  } else if (to_host) {
    from.copy_to_host(source.raw(), moved.raw(), bytes);
    from.synchronize();
  } else if (to.copy_from_peer(from, source.raw(), moved.raw(), bytes)) {
    to.synchronize();
  } else {
    // No peer access: through host memory, page-locked where the source device has it.
    buffer staging = from.allocate_staging(bytes);
    from.copy_to_host(source.raw(), staging.data(), bytes);
    from.synchronize();
    to.copy_from_host(staging.data(), moved.raw(), bytes);
    to.synchronize();
  }
  return moved;
}

}  // namespace loom
