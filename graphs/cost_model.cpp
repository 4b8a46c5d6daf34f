#include "graphs/cost_model.hpp"

#include <algorithm>

namespace loom {
namespace {

// Where a device declares no figure, the planner assumes a modest one rather than a free one.
constexpr double assumed_flops = 10e9;
constexpr double assumed_copy_bytes_per_s = 10e9;

bool on_host(const device_caps& caps) { return caps.memory_space == host_memory_space; }

double copy_rate(const device_caps& caps) {
  return caps.copy_bytes_per_s > 0 ? caps.copy_bytes_per_s : assumed_copy_bytes_per_s;
}

bool has_peer(const device_caps& to, const device_caps& from) {
  return std::find(to.peers.begin(), to.peers.end(), from.memory_space) != to.peers.end();
}

}  // namespace

std::size_t packet_bytes(const port_type& port) {
  if (!port.type || !port.shape) return 0;
  std::size_t bytes = size_of(*port.type);
  for (auto extent : *port.shape) bytes *= static_cast<std::size_t>(std::max<std::int64_t>(extent, 0));
  return bytes;
}

double compute_seconds(const stage_cost& cost, const port_type& main_input, const device_caps& on) {
  if (cost.flops <= 0) return 0;
  double rate = on.flops > 0 ? on.flops : assumed_flops;
  const bool reduced = main_input.type && (*main_input.type == dtype::bf16 || *main_input.type == dtype::f16);
  if (reduced && on.reduced_flops > 0) rate = on.reduced_flops;
  return cost.flops / rate;
}

double transfer_seconds(std::size_t bytes, const device_caps& from, const device_caps& to) {
  if (from.memory_space == to.memory_space || bytes == 0) return 0;
  const double size = static_cast<double>(bytes);
  if (on_host(from)) return size / copy_rate(to);
  if (on_host(to)) return size / copy_rate(from);
  if (has_peer(to, from)) return size / std::min(copy_rate(from), copy_rate(to));
  return size / copy_rate(from) + size / copy_rate(to);
}

const char* transfer_route(const device_caps& from, const device_caps& to) {
  if (from.memory_space == to.memory_space) return "none (same memory)";
  if (on_host(from)) return "host to device";
  if (on_host(to)) return "device to host";
  if (has_peer(to, from)) return "peer copy";
  return "staged through host memory";
}

}  // namespace loom
