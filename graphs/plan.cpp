#include "graphs/plan.hpp"

#include <algorithm>
#include <map>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "graphs/cost_model.hpp"
#include "graphs/place_stages.hpp"
#include "stages/json_text.hpp"

namespace loom {
namespace {

std::string bytes_text(std::size_t bytes) {
  if (bytes >= (1u << 30)) return fmt::format("{:.2f} GiB", bytes / 1073741824.0);
  if (bytes >= (1u << 20)) return fmt::format("{:.1f} MiB", bytes / 1048576.0);
  if (bytes >= (1u << 10)) return fmt::format("{:.1f} KiB", bytes / 1024.0);
  return fmt::format("{} B", bytes);
}

std::string time_text(double seconds) {
  if (seconds >= 1) return fmt::format("{:.2f} s", seconds);
  if (seconds >= 1e-3) return fmt::format("{:.2f} ms", seconds * 1e3);
  return fmt::format("{:.1f} µs", seconds * 1e6);
}

}  // namespace

graph_plan plan_graph(const graph_def& graph) {
  graph_plan plan;
  plan.graph = graph.name;
  std::map<std::string, device_plan> devices;
  for (const auto& [name, device] : graph.devices)
    devices[name] = {name, device.kind, device.caps.memory_space, device.caps.memory_total, 0, 0, {}};

  double slowest = 0;
  for (const auto& stage : graph.stages) {
    const auto& on = graph.devices.at(stage.device);
    stage_plan s;
    s.name = stage.name;
    s.type = stage.type;
    s.device = stage.device;
    s.replicas = stage.replicas;
    s.auto_placed = stage.auto_placed;
    s.reason = stage.placement_reason;
    s.batch = stage.batch;
    s.flops = stage.cost.flops;
    s.compute_s = compute_seconds(stage.cost, stage.input_types.empty() ? port_type{}
                                                                        : stage.input_types.front(),
                                  on.caps);
    for (std::size_t i = 0; i < stage.inputs.size(); ++i) {
      const auto& edge = stage.inputs[i];
      if (!edge.transfer) continue;
      const auto& producer = *graph.find(edge.from_stage);
      const auto& from = graph.devices.at(producer.device);
      transfer_plan t;
      t.from = edge.from_stage + "." + edge.from_port;
      t.to = edge.to_stage + "." + edge.to_port;
      t.from_device = producer.device;
      t.to_device = stage.device;
      t.route = transfer_route(from.caps, on.caps);
      t.bytes_per_packet = packet_bytes(stage.input_types.at(i));
      t.seconds_per_packet = transfer_seconds(t.bytes_per_packet, from.caps, on.caps);
      s.transfer_s += t.seconds_per_packet;
      plan.transfers.push_back(std::move(t));
    }
    s.seconds_per_packet = (s.compute_s + s.transfer_s) / std::max(1, stage.replicas);
    if (s.seconds_per_packet > slowest) {
      slowest = s.seconds_per_packet;
      plan.bottleneck = stage.name;
    }
    auto& device = devices.at(stage.device);
    device.resident_bytes += resident_bytes(stage);
    device.stages.push_back(stage.name);
    // Queued packets stay in the producer's memory until the consumer takes them.
    for (std::size_t port = 0; port < stage.output_types.size(); ++port) {
      const auto bytes = packet_bytes(stage.output_types[port]);
      for (const auto* edge : graph.consumers(stage.name, stage.spec->outputs[port].name))
        device.channel_bytes += bytes * edge->capacity;
    }
    plan.stages.push_back(std::move(s));
  }
  plan.packets_per_second = slowest > 0 ? 1.0 / slowest : 0;
  for (auto& [name, device] : devices) plan.devices.push_back(std::move(device));
  return plan;
}

std::string to_text(const graph_plan& plan) {
  std::string out = fmt::format("graph '{}'\n\nstages (in order; time per packet as estimated)\n",
                                plan.graph);
  std::size_t width = 5;
  for (const auto& s : plan.stages) width = std::max(width, s.name.size());
  for (const auto& s : plan.stages) {
    out += fmt::format("  {:<{}}  {:<18} on {:<10}{} compute {:>9}  transfers {:>9}{}\n", s.name,
                       width, s.type, s.device, s.replicas > 1 ? fmt::format(" ×{}", s.replicas) : "",
                       time_text(s.compute_s), time_text(s.transfer_s),
                       s.name == plan.bottleneck ? "  <- bottleneck" : "");
    if (s.auto_placed) out += fmt::format("  {:<{}}  placement auto: {}\n", "", width, s.reason);
    if (s.batch)
      out += fmt::format("  {:<{}}  batch: up to {} input sets per call, waiting at most {:g} ms\n",
                         "", width, s.batch->max, s.batch->timeout_ms);
  }
  out += "\ntransfers\n";
  if (plan.transfers.empty()) out += "  none: every edge stays in one memory space\n";
  for (const auto& t : plan.transfers)
    out += fmt::format("  {} -> {}  {} -> {}, {}, {} per packet{}\n", t.from, t.to, t.from_device,
                       t.to_device, t.route,
                       t.bytes_per_packet > 0 ? bytes_text(t.bytes_per_packet) : "size unknown",
                       t.bytes_per_packet > 0 ? fmt::format(", {}", time_text(t.seconds_per_packet))
                                              : "");
  out += "\ndevices\n";
  for (const auto& d : plan.devices) {
    if (d.stages.empty() && d.name != "cpu") {
      out += fmt::format("  {} ({}): no stages\n", d.name, d.kind);
      continue;
    }
    out += fmt::format("  {} ({}, memory {}): resident {}, queued up to {}; stages: {}\n", d.name,
                       d.kind, d.memory_total > 0 ? bytes_text(d.memory_total) : "host",
                       bytes_text(d.resident_bytes), bytes_text(d.channel_bytes),
                       d.stages.empty() ? "none" : fmt::format("{}", fmt::join(d.stages, ", ")));
  }
  if (plan.packets_per_second > 0)
    out += fmt::format("\nbottleneck: {} — about {:.1f} packets/s at best\n", plan.bottleneck,
                       plan.packets_per_second);
  else
    out += "\nbottleneck: none estimated (no stage declares a compute cost)\n";
  return out;
}

std::string to_json(const graph_plan& plan) {
  std::vector<std::string> stages, transfers, devices;
  for (const auto& s : plan.stages)
    stages.push_back(fmt::format(
        "{{\"name\": {}, \"type\": {}, \"device\": {}, \"replicas\": {}, \"auto\": {}, "
        "\"reason\": {}, \"flops\": {}, \"compute_s\": {:.9f}, \"transfer_s\": {:.9f}, "
        "\"seconds_per_packet\": {:.9f}{}}}",
        json_string(s.name), json_string(s.type), json_string(s.device), s.replicas,
        s.auto_placed, json_string(s.reason), json_number(s.flops), s.compute_s, s.transfer_s,
        s.seconds_per_packet,
        s.batch ? fmt::format(", \"batch\": {{\"max\": {}, \"timeout_ms\": {}}}", s.batch->max,
                              json_number(s.batch->timeout_ms))
                : ""));
  for (const auto& t : plan.transfers)
    transfers.push_back(fmt::format(
        "{{\"from\": {}, \"to\": {}, \"from_device\": {}, \"to_device\": {}, \"route\": {}, "
        "\"bytes_per_packet\": {}, \"seconds_per_packet\": {:.9f}}}",
        json_string(t.from), json_string(t.to), json_string(t.from_device),
        json_string(t.to_device), json_string(t.route), t.bytes_per_packet, t.seconds_per_packet));
  for (const auto& d : plan.devices)
    devices.push_back(fmt::format(
        "{}: {{\"kind\": {}, \"memory_space\": {}, \"memory_total\": {}, \"resident_bytes\": {}, "
        "\"channel_bytes\": {}}}",
        json_string(d.name), json_string(d.kind), json_string(d.memory_space), d.memory_total,
        d.resident_bytes, d.channel_bytes));
  return fmt::format(
      "{{\"graph\": {}, \"stages\": [{}], \"transfers\": [{}], \"devices\": {{{}}}, "
      "\"bottleneck\": {}, \"packets_per_second\": {}}}",
      json_string(plan.graph), fmt::join(stages, ", "), fmt::join(transfers, ", "),
      fmt::join(devices, ", "), json_string(plan.bottleneck), json_number(plan.packets_per_second));
}

}  // namespace loom
