#include "actors/stats.hpp"

#include <fstream>
#include <string_view>

#include <fmt/format.h>
#include <fmt/ranges.h>

namespace loom {
namespace {

std::string json_string(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      case '\r': out += "\\r"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20)
          out += fmt::format("\\u{:04x}", static_cast<int>(c));
        else
          out += c;
    }
  }
  return out + "\"";
}

// Plain decimal with up to 3 fractional digits, always valid JSON.
std::string json_number(double v) { return fmt::format("{:.3f}", v); }

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

}  // namespace

std::string to_json(const run_stats& stats) {
  auto stages = json_object(stats.stages, [](const stage_stats& s) {
    return fmt::format(
        "{{\"type\": {}, \"device\": {}, \"replicas\": {}, \"packets_in\": {}, "
        "\"packets_out\": {}, \"dropped\": {}, \"errors\": {}, \"restarts\": {}, "
        "\"busy_seconds\": {}, \"cpus\": [{}]}}",
        json_string(s.type), json_string(s.device), s.replicas, s.packets_in, s.packets_out,
        s.dropped, s.errors, s.restarts, json_number(s.busy_seconds), fmt::join(s.cpus, ", "));
  });
  auto sinks = json_object(stats.sinks, [](const sink_stats& s) {
    return fmt::format(
        "{{\"packets\": {}, \"bytes\": {}, \"latency_us\": {{\"p50\": {}, \"p99\": {}}}}}",
        s.packets, s.bytes, json_number(s.latency_p50_us), json_number(s.latency_p99_us));
  });
  auto edges = json_object(stats.edges, [](const edge_stats& e) {
    return fmt::format("{{\"sent\": {}, \"dropped\": {}, \"policy\": {}, \"capacity\": {}}}",
                       e.sent, e.dropped, json_string(e.policy), e.capacity);
  });
  return fmt::format(
      "{{\"graph\": {}, \"seconds\": {}, \"stages\": {}, \"sinks\": {}, \"edges\": {}, "
      "\"bytes_copied\": {}, \"peak_rss_bytes\": {}}}",
      json_string(stats.graph), json_number(stats.seconds), stages, sinks, edges,
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
