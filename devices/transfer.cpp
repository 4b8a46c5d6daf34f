// Moving a tensor between memory spaces (see transfer.hpp): one direct copy where the destination
// has peer access to the source, otherwise through host memory. Every path waits for its copies,
// so the tensor it returns is complete and the staging memory can go.
#include "devices/transfer.hpp"

#include <cstring>
#include <stdexcept>
#include <vector>

#include <fmt/format.h>

namespace loom {
namespace {

// Writes the elements of a strided host tensor densely, in row-major order, at `out`. Where the
// last dimension is dense, each row is one memcpy rather than one per element.
void compact_into(const tensor& t, std::byte* out) {
  const auto element = size_of(t.type());
  const auto rank = t.rank();
  const bool dense_rows = rank > 0 && t.strides()[rank - 1] == 1;
  const std::int64_t run = dense_rows ? t.shape()[rank - 1] : 1;
  const std::size_t outer_rank = dense_rows ? rank - 1 : rank;
  const auto run_bytes = static_cast<std::size_t>(run) * element;
  std::vector<std::int64_t> index(outer_rank, 0);
  for (std::int64_t n = 0, runs = t.numel() / run; n < runs; ++n) {
    std::int64_t offset = 0;
    for (std::size_t d = 0; d < outer_rank; ++d) offset += index[d] * t.strides()[d];
    std::memcpy(out + static_cast<std::size_t>(n) * run_bytes,
                t.raw() + static_cast<std::size_t>(offset) * element, run_bytes);
    for (std::size_t d = outer_rank; d-- > 0;) {
      if (++index[d] < t.shape()[d]) break;
      index[d] = 0;
    }
  }
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
  const auto bytes = static_cast<std::size_t>(t.numel()) * size_of(t.type());
  // Into host memory, the source device's staging memory is the destination: page-locked and
  // pooled on a GPU, so the copy runs at full speed and fresh pages are not faulted in each time.
  tensor moved = to_host
                     ? tensor(t.type(), t.shape(), from.allocate_staging(bytes), host_memory_space)
                     : to.allocate_tensor(t.type(), t.shape());
  if (bytes == 0) return moved;

  if (from_host && t.is_contiguous()) {
    to.copy_from_host(t.raw(), moved.raw(), bytes);
    to.synchronize();
  } else if (from_host) {
    // Made dense in the destination's staging memory (page-locked where it has it), so the
    // device copy is one span at full speed.
    buffer staging = to.allocate_staging(bytes);
    compact_into(t, staging.data());
    to.copy_from_host(staging.data(), moved.raw(), bytes);
    to.synchronize();
  } else if (to_host) {
    from.copy_to_host(t.raw(), moved.raw(), bytes);
    from.synchronize();
  } else {
    // A peer copy is queued on the destination's stream, which is not ordered after the work
    // the source queued: that work must be done before its result is read.
    from.synchronize();
    if (to.copy_from_peer(from, t.raw(), moved.raw(), bytes)) {
      to.synchronize();
    } else {
      // No peer access: through host memory, page-locked where the source device has it.
      buffer staging = from.allocate_staging(bytes);
      from.copy_to_host(t.raw(), staging.data(), bytes);
      from.synchronize();
      to.copy_from_host(staging.data(), moved.raw(), bytes);
      to.synchronize();
    }
  }
  return moved;
}

}  // namespace loom
