// `loom devices [--json]`: the device kinds loom knows (built in, built with it, or plugins), the
// keys each takes in a graph's `[devices.NAME]` table, and the devices this machine has — so a
// graph's author can see what to write before writing it. Detecting runs nothing on a device.
#include <cstdio>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "cli/commands.hpp"
#include "devices/device_registry.hpp"
#include "stages/json_text.hpp"

namespace loom::cli {
namespace {

// Keys every `[devices.NAME]` table takes, whatever its kind (see device_registry.hpp).
const std::vector<std::string> common_keys{"kind", "cores", "cost_per_hour", "watts"};

// What one kind's detect() found, or why it could not look (a driver missing, say): one kind that
// cannot detect must not hide the others.
struct detection {
  std::string kind;
  std::vector<detected_device> devices;
  std::string error;
};

std::vector<detection> detect_all(const device_registry& registry) {
  std::vector<detection> found;
  for (const auto& name : registry.kinds()) {
    const auto* kind = registry.find(name);
    detection d{name, {}, {}};
    try {
      if (kind->detect) d.devices = kind->detect();
    } catch (const std::exception& e) {
      d.error = e.what();
    }
    found.push_back(std::move(d));
  }
  return found;
}

std::string limits(const param_spec& p) {
  std::string out;
  if (p.min) out += fmt::format(" (>= {})", *p.min);
  if (p.max) out += fmt::format(" (<= {})", *p.max);
  if (!p.choices.empty()) out += fmt::format(" (one of: {})", fmt::join(p.choices, ", "));
  return out;
}

std::string dtype_list(const std::vector<dtype>& types) {
  std::vector<std::string_view> names;
  for (auto type : types) names.push_back(name_of(type));
  return fmt::format("{}", fmt::join(names, ", "));
}

// "computes f32, bf16, f16 at ~60 GFLOP/s (f32); memory 80 GiB; copies at 25 GB/s".
std::string caps_line(const device_caps& caps) {
  std::vector<std::string> parts;
  if (!caps.compute_dtypes.empty())
    parts.push_back(fmt::format("computes {}", dtype_list(caps.compute_dtypes)));
  if (caps.flops > 0) parts.push_back(fmt::format("~{:.0f} GFLOP/s f32", caps.flops / 1e9));
  if (caps.reduced_flops > 0)
    parts.push_back(fmt::format("~{:.0f} GFLOP/s bf16/f16", caps.reduced_flops / 1e9));
  if (caps.memory_total > 0)
    parts.push_back(fmt::format("memory {:.1f} GiB", caps.memory_total / 1073741824.0));
  if (caps.copy_bytes_per_s > 0)
    parts.push_back(fmt::format("copies at {:.1f} GB/s", caps.copy_bytes_per_s / 1e9));
  if (!caps.peers.empty()) parts.push_back(fmt::format("peers {}", fmt::join(caps.peers, ", ")));
  return fmt::format("{}", fmt::join(parts, "; "));
}

void print_text(const device_registry& registry, const std::vector<detection>& found) {
  std::printf("Device kinds (a graph declares a device as [devices.NAME] with kind = \"KIND\"):\n");
  for (const auto& name : registry.kinds()) {
    const auto* kind = registry.find(name);
    std::printf("\n  %-10s %s\n  %-10s from %s\n", name.c_str(), kind->summary.c_str(), "",
                kind->origin.c_str());
    for (const auto& p : kind->params) {
      auto def = p.default_value ? "default " + to_toml(*p.default_value) : std::string("required");
      std::printf("  %-10s   %-14s %-8s %-14s %s%s\n", "", p.key.c_str(),
                  std::string(name_of(p.type)).c_str(), def.c_str(), p.doc.c_str(),
                  limits(p).c_str());
    }
  }
  std::printf("\nEvery kind also takes: %s (see docs/graph-format.md).\n",
              fmt::format("{}", fmt::join(common_keys, ", ")).c_str());

  std::printf("\nThis machine:\n");
  for (const auto& d : found) {
    if (!d.error.empty()) {
      std::printf("\n  %-10s cannot detect: %s\n", d.kind.c_str(), d.error.c_str());
      continue;
    }
    if (d.devices.empty()) std::printf("\n  %-10s none on this machine\n", d.kind.c_str());
    for (const auto& device : d.devices) {
      std::printf("\n  %-10s %s\n", device.name.c_str(), device.description.c_str());
      if (auto caps = caps_line(device.caps); !caps.empty())
        std::printf("  %-10s %s\n", "", caps.c_str());
      for (const auto& line : device.details) std::printf("  %-10s   %s\n", "", line.c_str());
    }
  }
}

std::string json_strings(const std::vector<std::string>& values) {
  std::vector<std::string> quoted;
  for (const auto& v : values) quoted.push_back(json_string(v));
  return fmt::format("[{}]", fmt::join(quoted, ", "));
}

std::string json_value(const param_value& value) {
  struct {
    std::string operator()(bool b) const { return b ? "true" : "false"; }
    std::string operator()(std::int64_t i) const { return std::to_string(i); }
    std::string operator()(double d) const { return json_significant(d); }
    std::string operator()(const std::string& s) const { return json_string(s); }
    std::string operator()(const std::vector<std::int64_t>& v) const {
      return fmt::format("[{}]", fmt::join(v, ", "));
    }
    std::string operator()(const std::vector<double>& v) const {
      std::vector<std::string> numbers;
      for (double d : v) numbers.push_back(json_significant(d));
      return fmt::format("[{}]", fmt::join(numbers, ", "));
    }
    std::string operator()(const std::vector<std::string>& v) const { return json_strings(v); }
  } visitor;
  return std::visit(visitor, value);
}

std::string json_param(const param_spec& p) {
  auto out = fmt::format("{{\"key\": {}, \"type\": {}, \"doc\": {}", json_string(p.key),
                         json_string(name_of(p.type)), json_string(p.doc));
  out += p.default_value ? fmt::format(", \"default\": {}", json_value(*p.default_value))
                         : std::string(", \"required\": true");
  if (p.min) out += fmt::format(", \"min\": {}", json_significant(*p.min));
  if (p.max) out += fmt::format(", \"max\": {}", json_significant(*p.max));
  if (!p.choices.empty()) out += fmt::format(", \"choices\": {}", json_strings(p.choices));
  return out + "}";
}

std::string json_caps(const device_caps& c) {
  std::vector<std::string> types;
  for (auto type : c.compute_dtypes) types.emplace_back(name_of(type));
  return fmt::format(
      "{{\"memory_space\": {}, \"memory_total\": {}, \"async\": {}, \"peers\": {}, "
      "\"compute_dtypes\": {}, \"copy_bytes_per_s\": {}, \"flops\": {}, \"reduced_flops\": {}, "
      "\"cores\": [{}], \"numa_node\": {}}}",
      json_string(c.memory_space), c.memory_total, c.async, json_strings(c.peers),
      json_strings(types), json_significant(c.copy_bytes_per_s), json_significant(c.flops),
      json_significant(c.reduced_flops), fmt::join(c.cores, ", "), c.numa_node);
}

void print_json(const device_registry& registry, const std::vector<detection>& found) {
  std::vector<std::string> kinds;
  for (const auto& name : registry.kinds()) {
    const auto* kind = registry.find(name);
    std::vector<std::string> params;
    for (const auto& p : kind->params) params.push_back(json_param(p));
    kinds.push_back(fmt::format(
        "{{\"kind\": {}, \"origin\": {}, \"summary\": {}, \"params\": [{}]}}", json_string(name),
        json_string(kind->origin), json_string(kind->summary), fmt::join(params, ", ")));
  }
  std::vector<std::string> devices, errors;
  for (const auto& d : found) {
    if (!d.error.empty())
      errors.push_back(fmt::format("{{\"kind\": {}, \"error\": {}}}", json_string(d.kind),
                                   json_string(d.error)));
    for (const auto& device : d.devices)
      devices.push_back(fmt::format(
          "{{\"kind\": {}, \"name\": {}, \"description\": {}, \"details\": {}, \"caps\": {}}}",
          json_string(d.kind), json_string(device.name), json_string(device.description),
          json_strings(device.details), json_caps(device.caps)));
  }
  std::printf("%s\n",
              fmt::format("{{\"kinds\": [{}], \"common_keys\": {}, \"devices\": [{}], "
                          "\"detect_errors\": [{}]}}",
                          fmt::join(kinds, ", "), json_strings(common_keys),
                          fmt::join(devices, ", "), fmt::join(errors, ", "))
                  .c_str());
}

}  // namespace

int devices_command(bool json) {
  device_registry registry;
  try {
    registry = device_registry::standard();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "loom: error: %s\n", e.what());
    return exit_invalid;
  }
  auto found = detect_all(registry);
  if (json)
    print_json(registry, found);
  else
    print_text(registry, found);
  return exit_ok;
}

}  // namespace loom::cli
