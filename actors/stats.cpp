#include "actors/stats.hpp"

#include <fstream>
#include <string_view>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "stages/json_text.hpp"

namespace loom {
namespace {

template <class Map, class Write>
std::string json_object(const Map& map, Write write) {
  std::string out = "{";
  bool first = true;
  for (const auto& [key, value] : map) {
    if (!first) out += ", ";
    first = false;
    out += json_string(key) + ": " + write(value);
  }
  return out + "}";
}

// `, "key": value` when there is a value.
std::string optional_field(std::string_view key, const std::optional<double>& value) {
  return value ? fmt::format(", {}: {}", json_string(key), json_significant(*value)) : "";
}

// `, "batches": N, "batch_mean": X` for a stage with `batch`.
std::string batch_fields(const stage_stats& s) {
  return s.batches ? fmt::format(", \"batches\": {}, \"batch_mean\": {}", *s.batches,
                                 json_number(s.batch_mean))
                   : "";
}

// `, "counters": {"name": [...]}` when the stage counted anything.
std::string counters_field(const std::map<std::string, std::vector<std::uint64_t>>& counters) {
  if (counters.empty()) return "";
  return ", \"counters\": " + json_object(counters, [](const std::vector<std::uint64_t>& values) {
           return fmt::format("[{}]", fmt::join(values, ", "));
         });
}

}  // namespace

std::string to_json(const run_stats& stats) {
  auto stages = json_object(stats.stages, [](const stage_stats& s) {
    return fmt::format(
        "{{\"type\": {}, \"device\": {}, \"replicas\": {}, \"packets_in\": {}, "
        "\"packets_out\": {}, \"dropped\": {}, \"errors\": {}, \"restarts\": {}, "
        "\"busy_seconds\": {}, \"cpus\": [{}]{}{}}}",
        json_string(s.type), json_string(s.device), s.replicas, s.packets_in, s.packets_out,
        s.dropped, s.errors, s.restarts, json_number(s.busy_seconds), fmt::join(s.cpus, ", "),
        batch_fields(s), counters_field(s.counters));
  });
  auto sinks = json_object(stats.sinks, [](const sink_stats& s) {
    return fmt::format(
        "{{\"packets\": {}, \"bytes\": {}, \"latency_us\": {{\"p50\": {}, \"p99\": {}}}{}{}}}",
        s.packets, s.bytes, json_number(s.latency_p50_us), json_number(s.latency_p99_us),
        optional_field("cost_per_output", s.cost_per_output),
        optional_field("energy_j_per_output", s.energy_j_per_output));
  });
  auto edges = json_object(stats.edges, [](const edge_stats& e) {
    return fmt::format(
        "{{\"sent\": {}, \"dropped\": {}, \"bytes_transferred\": {}, \"policy\": {}, "
        "\"capacity\": {}{}{}}}",
        e.sent, e.dropped, e.bytes_transferred, json_string(e.policy), e.capacity,
        e.transport.empty() ? std::string() : fmt::format(", \"transport\": {}", json_string(e.transport)),
        e.lost > 0 ? fmt::format(", \"lost\": {}", e.lost) : std::string());
  });
  auto nodes = json_object(stats.nodes, [](const node_stats& n) {
    return fmt::format(
        "{{\"address\": {}, \"outcome\": {}, \"seconds\": {}, \"peak_rss_bytes\": {}}}",
        json_string(n.address), json_string(n.outcome), json_number(n.seconds),
        n.peak_rss_bytes);
  });
  auto devices = json_object(stats.devices, [](const device_stats& d) {
    return fmt::format("{{\"kind\": {}, \"busy_seconds\": {}{}{}}}", json_string(d.kind),
                       json_number(d.busy_seconds), optional_field("cost", d.cost),
                       optional_field("energy_j", d.energy_j));
  });
  return fmt::format(
      "{{\"graph\": {}, \"seconds\": {}, \"stages\": {}, \"sinks\": {}, \"edges\": {}, "
      "\"devices\": {}, {}\"bytes_copied\": {}, \"peak_rss_bytes\": {}}}",
      json_string(stats.graph), json_number(stats.seconds), stages, sinks, edges, devices,
      stats.nodes.empty() ? std::string() : fmt::format("\"nodes\": {}, ", nodes),
      stats.bytes_copied, stats.peak_rss_bytes);
}

std::uint64_t peak_rss_bytes() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line))
    if (line.rfind("VmHWM:", 0) == 0) return std::stoull(line.substr(6)) * 1024;
  return 0;
}

}  // namespace loom
