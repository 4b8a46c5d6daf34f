#include "graphs/place_stages.hpp"

#include <algorithm>
#include <limits>
#include <map>

#include <fmt/format.h>

#include "graphs/cost_model.hpp"

namespace loom {
namespace {

std::string mib(std::size_t bytes) { return fmt::format("{:.1f} MiB", bytes / 1048576.0); }

std::string ms(double seconds) { return fmt::format("{:.3f} ms", seconds * 1e3); }

bool runs_on(const stage_spec& spec, const std::string& kind) {
  const auto& kinds = spec.device_kinds;
  return std::find(kinds.begin(), kinds.end(), "*") != kinds.end() ||
         std::find(kinds.begin(), kinds.end(), kind) != kinds.end();
}

port_type main_input(const stage_def& stage) {
  return stage.input_types.empty() ? port_type{} : stage.input_types.front();
}

class placer {
 public:
  placer(graph_def& graph, std::vector<diagnostic>& errors) : graph_(graph), errors_(errors) {
    for (auto& stage : graph_.stages) by_name_.emplace(stage.name, &stage);
  }

  void run() {
    for (auto& stage : graph_.stages) estimate(stage);
    // Stages pinned to a device claim its memory first; placed stages fit around them.
    for (auto& stage : graph_.stages) {
      if (is_auto(stage)) continue;
      check_kind(stage);
      resident_[stage.device] += resident_bytes(stage);
    }
    for (auto& stage : graph_.stages) {
      if (!is_auto(stage)) continue;
      place(stage);
      resident_[stage.device] += resident_bytes(stage);
    }
    check_memory();
    mark_transfers();
  }

 private:
  bool is_auto(const stage_def& stage) const {
    return stage.placement == placement_mode::automatic ||
           (stage.placement == placement_mode::graph_default && graph_.auto_placement &&
            stage.device_where.line == 0);
  }

  void estimate(stage_def& stage) {
    if (stage.spec == nullptr || !stage.spec->estimate) return;
    try {
      stage.cost = stage.spec->estimate(stage.values, stage.input_types);
    } catch (const std::exception& e) {
      errors_.push_back({stage.where, fmt::format("stage '{}' ({}): its type could not estimate "
                                                  "its cost: {}",
                                                  stage.name, stage.type, e.what())});
    }
  }

  const source_position& device_position(const stage_def& stage) const {
    return stage.device_where.line != 0 ? stage.device_where : stage.where;
  }

  void check_kind(const stage_def& stage) {
    const auto& device = graph_.devices.at(stage.device);
    if (runs_on(*stage.spec, device.kind)) return;
    errors_.push_back(
        {device_position(stage),
         fmt::format("stage '{}' ({}) cannot run on device '{}': its type works on {} devices, "
                     "and '{}' is {}",
                     stage.name, stage.type, stage.device,
                     fmt::join(stage.spec->device_kinds, ", "), stage.device, device.kind)});
  }

  // Seconds per call on `device`: compute, plus moving its inputs there from their producers,
  // plus moving its outputs to consumers whose device is already fixed.
  double seconds_on(const stage_def& stage, const device_def& device, double& transfers) const {
    transfers = 0;
    for (std::size_t i = 0; i < stage.inputs.size(); ++i) {
      const auto& producer = *by_name_.at(stage.inputs[i].from_stage);
      transfers += transfer_seconds(packet_bytes(stage.input_types.at(i)),
                                    graph_.devices.at(producer.device).caps, device.caps);
    }
    for (const auto& consumer : graph_.stages) {
      if (is_auto(consumer)) continue;
      for (const auto& edge : consumer.inputs) {
        if (edge.from_stage != stage.name) continue;
        auto port = stage.spec->output_index(edge.from_port);
        if (!port || *port >= stage.output_types.size()) continue;
        transfers += transfer_seconds(packet_bytes(stage.output_types[*port]), device.caps,
                                      graph_.devices.at(consumer.device).caps);
      }
    }
    return compute_seconds(stage.cost, main_input(stage), device.caps) + transfers;
  }

  void place(stage_def& stage) {
    struct option {
      const device_def* device;
      double seconds;
      double transfers;
    };
    std::vector<option> options;
    std::vector<std::string> refused;
    const std::size_t wanted = resident_bytes(stage);
    for (const auto& [name, device] : graph_.devices) {
      if (!runs_on(*stage.spec, device.kind)) continue;
      const auto total = device.caps.memory_total;
      if (total > 0 && resident_[name] + wanted > total) {
        refused.push_back(fmt::format("{}: cannot hold {} ({} free)", name, mib(wanted),
                                      mib(total - std::min(total, resident_[name]))));
        continue;
      }
      double transfers = 0;
      double seconds = seconds_on(stage, device, transfers);
      options.push_back({&device, seconds, transfers});
    }
    if (options.empty()) {
      errors_.push_back(
          {stage.where,
           fmt::format("stage '{}' ({}) has placement = \"auto\" but no declared device can run "
                       "it (its type works on {} devices){}",
                       stage.name, stage.type, fmt::join(stage.spec->device_kinds, ", "),
                       refused.empty() ? "" : fmt::format("; {}", fmt::join(refused, "; ")))});
      return;
    }
    // Cheapest first; on a tie, the built-in cpu, then the device declared first by name.
    std::stable_sort(options.begin(), options.end(), [](const option& a, const option& b) {
      if (a.seconds != b.seconds) return a.seconds < b.seconds;
      return (a.device->name == "cpu") > (b.device->name == "cpu");
    });
    const auto& best = options.front();
    stage.device = best.device->name;
    stage.auto_placed = true;
    std::vector<std::string> others;
    for (std::size_t i = 1; i < options.size(); ++i)
      others.push_back(fmt::format("{} {}", options[i].device->name, ms(options[i].seconds)));
    for (const auto& r : refused) others.push_back(r);
    stage.placement_reason = fmt::format(
        "{} per packet (compute {}, transfers {}){}", ms(best.seconds),
        ms(best.seconds - best.transfers), ms(best.transfers),
        others.empty() ? "" : fmt::format("; other devices: {}", fmt::join(others, ", ")));
  }

  void check_memory() {
    for (const auto& [name, device] : graph_.devices) {
      const auto total = device.caps.memory_total;
      const auto held = resident_[name];
      if (total == 0 || held <= total) continue;
      // Report at the stage that pushed the device over its capacity.
      std::size_t sum = 0;
      for (const auto& stage : graph_.stages) {
        if (stage.device != name) continue;
        const auto wanted = resident_bytes(stage);
        if (sum + wanted > total) {
          errors_.push_back(
              {device_position(stage),
               fmt::format("stage '{}' needs {} bytes ({}) of device '{}' memory for what it "
                           "keeps resident, but only {} bytes ({}) of its {} are free; place it "
                           "elsewhere or give '{}' more memory",
                           stage.name, wanted, mib(wanted), name, total - sum, mib(total - sum),
                           mib(total), name)});
          break;
        }
        sum += wanted;
      }
    }
  }

  void mark_transfers() {
    for (auto& stage : graph_.stages) {
      const auto& space = graph_.devices.at(stage.device).caps.memory_space;
      for (auto& edge : stage.inputs) {
        const auto& producer = *by_name_.at(edge.from_stage);
        edge.transfer = graph_.devices.at(producer.device).caps.memory_space != space;
      }
    }
  }

  graph_def& graph_;
  std::vector<diagnostic>& errors_;
  std::map<std::string, stage_def*, std::less<>> by_name_;
  std::map<std::string, std::size_t, std::less<>> resident_;
};

}  // namespace

void place_stages(graph_def& graph, std::vector<diagnostic>& errors) {
  placer(graph, errors).run();
}

std::size_t resident_bytes(const stage_def& stage) {
  return stage.cost.resident_bytes * static_cast<std::size_t>(stage.replicas);
}

}  // namespace loom
