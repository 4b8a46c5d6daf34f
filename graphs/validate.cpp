// Validates a graph file section by section, reporting every error rather than stopping at the
// first. Each stage table is read by read_stage; link_stages then joins the stages.
#include "graphs/validate.hpp"

#include <algorithm>
#include <filesystem>
#include <limits>
#include <set>

#include <fmt/format.h>

#include "devices/cpu_affinity.hpp"
#include "devices/installed_devices.hpp"
#include "graphs/check_params.hpp"
#include "graphs/expand_moe.hpp"
#include "graphs/link_stages.hpp"
#include "graphs/place_stages.hpp"
#include "graphs/read_stage.hpp"
#include "graphs/read_values.hpp"
#include "graphs/suggest.hpp"
#include "stages/plugin_loader.hpp"

namespace loom {
namespace {

const std::vector<std::string> top_level_keys{"graph", "devices", "nodes", "stages", "plugins"};
const std::vector<std::string> graph_keys{"name", "version", "capacity", "policy", "placement"};
const std::vector<std::string> plugin_keys{"paths"};
// What every device table may say; its kind declares the rest.
const std::vector<std::string> device_keys{"kind", "cores", "cost_per_hour", "watts"};
const std::vector<std::string> node_keys{"address"};
// A node's data ports follow its control port (graph.hpp): leave room for them.
constexpr int max_node_port = 65535 - 1024;
constexpr std::int64_t format_version = 1;

// "0-3, 8, 10-11": how CPU sets are usually written (taskset, /sys/devices/system/cpu).
std::string cpu_ranges(const std::vector<int>& cpus) {
  if (cpus.empty()) return "none";
  std::vector<std::string> parts;
  for (std::size_t i = 0; i < cpus.size();) {
    std::size_t j = i;
    while (j + 1 < cpus.size() && cpus[j + 1] == cpus[j] + 1) ++j;
    parts.push_back(i == j ? std::to_string(cpus[i]) : fmt::format("{}-{}", cpus[i], cpus[j]));
    i = j + 1;
  }
  return fmt::format("{}", fmt::join(parts, ", "));
}

class graph_validator {
 public:
  graph_validator(const toml_node& root, const std::string& file, stage_registry& registry,
                  std::vector<diagnostic>& errors, std::string local_node)
      : root_(root), registry_(registry), device_kinds_(installed_device_kinds()), errors_(errors),
        errors_at_start_(errors.size()), local_node_(std::move(local_node)) {
    graph_.file = file;
    device_def cpu;
    cpu.name = cpu.kind = "cpu";
    cpu.caps = device_kinds_.find("cpu")->describe("cpu", {}, {});
    cpu.where = {file, 1, 1};
    graph_.devices["cpu"] = std::move(cpu);
    declared_devices_.insert("cpu");
  }

  graph_def run() {
    check_keys(root_, top_level_keys, "the graph file", errors_);
    read_graph_table();
    load_plugins();
    read_devices();
    read_nodes();
    read_stages();
    check_cores_here();
    return std::move(graph_);
  }

 private:
  // A top-level section, when present and a table.
  const toml_node* section(std::string_view key) {
    const auto* node = root_.get(key);
    if (node == nullptr) return nullptr;
    return expect_kind(*node, toml_kind::table, fmt::format("'{}'", key), errors_) ? node
                                                                                   : nullptr;
  }

  void read_graph_table() {
    const auto* graph = root_.get("graph");
    if (graph == nullptr) {
      add_error(errors_, root_.where,
                "missing [graph] table (with name = \"...\" and version = 1)");
      return;
    }
    graph = section("graph");
    if (graph == nullptr) return;
    check_keys(*graph, graph_keys, "[graph]", errors_);
    if (const auto* name = graph->get("name")) {
      if (auto value = read_string(*name, "'name' in [graph]", errors_)) {
        if (value->empty())
          add_error(errors_, name->where, "'name' in [graph] must not be empty");
        graph_.name = *value;
      }
    } else {
      add_error(errors_, graph->where, "[graph] is missing 'name' (name = \"...\")");
    }
    if (const auto* version = graph->get("version")) {
      auto value = read_integer(*version, "'version' in [graph]",
                                std::numeric_limits<std::int64_t>::min(),
                                std::numeric_limits<std::int64_t>::max(), errors_);
      if (value && *value != format_version)
        add_error(errors_, version->where,
                  fmt::format("unsupported graph format version {}; this loom reads version {}",
                              *value, format_version));
    } else {
      add_error(errors_, graph->where,
                fmt::format("[graph] is missing 'version' (version = {})", format_version));
    }
    if (const auto* capacity = graph->get("capacity"))
      if (auto v = read_integer(*capacity, "'capacity' in [graph]", 1, max_edge_capacity, errors_))
        defaults_.capacity = static_cast<std::size_t>(*v);
    if (const auto* policy = graph->get("policy"))
      if (auto v = read_choice(*policy, "'policy' in [graph]", full_policy_names, errors_))
        defaults_.policy = full_policy_named(*v);
    if (const auto* placement = graph->get("placement"))
      if (auto v = read_choice(*placement, "'placement' in [graph]", {"auto", "fixed"}, errors_))
        graph_.auto_placement = *v == "auto";
  }

  // Relative paths are relative to the graph file, so a graph and its plugins move together.
  void load_plugins() {
    const auto* plugins = section("plugins");
    if (plugins == nullptr) return;
    check_keys(*plugins, plugin_keys, "[plugins]", errors_);
    const auto* paths = plugins->get("paths");
    if (paths == nullptr || !expect_kind(*paths, toml_kind::array, "'paths' in [plugins]", errors_))
      return;
    namespace fs = std::filesystem;
    auto directory = fs::absolute(fs::path(graph_.file)).parent_path();
    for (std::size_t i = 0; i < paths->items.size(); ++i) {
      const auto& element = paths->items[i];
      auto what = fmt::format("element {} of 'paths' in [plugins]", i + 1);
      auto path = read_string(element, what, errors_);
      if (!path) continue;
      if (path->empty()) {
        add_error(errors_, element.where, what + " must not be empty");
        continue;
      }
      auto absolute = (directory / *path).lexically_normal().string();
      try {
        load_plugin(absolute, registry_);
        graph_.plugins.push_back(absolute);
      } catch (const std::exception& e) {
        add_error(errors_, element.where, e.what());
      }
    }
  }

  void read_devices() {
    const auto* devices = section("devices");
    if (devices == nullptr) return;
    for (const auto& entry : devices->entries) declared_devices_.insert(entry.key);
    for (const auto& entry : devices->entries) read_device(entry);
  }

  void read_device(const toml_entry& entry) {
    auto what = fmt::format("device '{}'", entry.key);
    if (!expect_kind(entry.value, toml_kind::table, what, errors_)) return;
    const auto& table = entry.value;
    device_def device;
    device.name = entry.key;
    device.where = table.where.source();
    const device_kind* kind = read_kind(table, entry.key, what);
    bool ok = kind != nullptr;
    if (kind != nullptr) device.kind = kind->kind;
    if (const auto* cores = table.get("cores")) ok = read_cores(*cores, what, device) && ok;
    if (const auto* cost = table.get("cost_per_hour"))
      ok = read_rate(*cost, fmt::format("'cost_per_hour' of {}", what), device.cost_per_hour) && ok;
    if (const auto* watts = table.get("watts"))
      ok = read_rate(*watts, fmt::format("'watts' of {}", what), device.watts) && ok;
    // Without a kind there is no telling which other keys are right.
    if (kind == nullptr) return;
    auto params =
        check_params(table, {what, kind->kind, kind->params, "key"}, device_keys, errors_);
    device.values = std::move(params.values);
    if (!ok || !params.complete) return;
    try {
      device.caps = kind->describe(device.name, device.values, device.cores);
    } catch (const std::exception& e) {
      add_error(errors_, table.where, e.what());  // kinds name the device in their messages
      return;
    }
    graph_.devices[entry.key] = std::move(device);
  }

  void read_nodes() {
    const auto* nodes = section("nodes");
    if (nodes == nullptr) return;
    for (const auto& entry : nodes->entries) declared_nodes_.insert(entry.key);
    for (const auto& entry : nodes->entries) read_node(entry);
  }

  void read_node(const toml_entry& entry) {
    auto what = fmt::format("node '{}'", entry.key);
    if (!expect_kind(entry.value, toml_kind::table, what, errors_)) return;
    const auto& table = entry.value;
    check_keys(table, node_keys, what, errors_);
    const auto* address = table.get("address");
    if (address == nullptr) {
      add_error(errors_, table.where,
                fmt::format("{} is missing 'address' (address = \"tcp://HOST:PORT\", where "
                            "`loom node --listen tcp://*:PORT` runs)",
                            what));
      return;
    }
    auto text = read_string(*address, fmt::format("'address' of {}", what), errors_);
    if (!text) return;
    node_def node;
    node.name = entry.key;
    node.address = *text;
    node.where = table.where.source();
    // tcp://HOST:PORT, HOST a name, an IPv4 address or a bracketed IPv6 one.
    constexpr std::string_view scheme = "tcp://";
    auto colon = text->rfind(':');
    bool shaped = text->rfind(scheme, 0) == 0 && colon != std::string::npos &&
                  colon > scheme.size();
    int port = 0;
    if (shaped) {
      node.host = text->substr(scheme.size(), colon - scheme.size());
      auto digits = text->substr(colon + 1);
      shaped = !digits.empty() && digits.size() <= 5 &&
               std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; });
      if (shaped) port = std::stoi(digits);
      shaped = shaped && node.host != "*" && node.host.find_first_of(" /") == std::string::npos;
    }
    if (!shaped) {
      add_error(errors_, address->where,
                fmt::format("'address' of {} must be \"tcp://HOST:PORT\" (the host the other "
                            "nodes reach it at, and the port of its `loom node --listen`), not "
                            "'{}'",
                            what, *text));
      return;
    }
    if (port < 1 || port > max_node_port) {
      add_error(errors_, address->where,
                fmt::format("the port of {} must be between 1 and {} (the ports after it carry "
                            "its data), not {}",
                            what, max_node_port, port));
      return;
    }
    node.port = port;
    graph_.nodes[entry.key] = std::move(node);
  }

  // A price or a power draw: a number, zero or more.
  bool read_rate(const toml_node& node, const std::string& what, std::optional<double>& into) {
    into = read_number(node, what, errors_);
    if (into && *into < 0) {
      add_error(errors_, node.where, fmt::format("{} must not be negative, not {}", what, *into));
      into.reset();
    }
    return into.has_value();
  }

  // The device's kind, from the kinds this installation has (`loom devices` lists them).
  const device_kind* read_kind(const toml_node& table, const std::string& name,
                               const std::string& what) {
    auto kinds = device_kinds_.kinds();
    const auto* node = table.get("kind");
    if (node == nullptr) {
      add_error(errors_, table.where,
                fmt::format("{} is missing 'kind' (known: {})", what, name_list(kinds)));
      return nullptr;
    }
    auto value = read_string(*node, fmt::format("'kind' of {}", what), errors_);
    if (!value) return nullptr;
    if (name == "cpu" && *value != "cpu") {
      add_error(errors_, node->where,
                fmt::format("device 'cpu' is the built-in CPU device; its kind must be \"cpu\", "
                            "not '{}'",
                            *value));
      return nullptr;
    }
    const auto* kind = device_kinds_.find(*value);
    if (kind == nullptr)
      add_error(errors_, node->where,
                fmt::format("unknown device kind '{}' (known: {})", *value, name_list(kinds)));
    return kind;
  }

  bool read_cores(const toml_node& cores, const std::string& device_name, device_def& device) {
    auto what = fmt::format("'cores' of {}", device_name);
    if (!expect_kind(cores, toml_kind::array, what, errors_)) return false;
    if (cores.items.empty()) {
      add_error(errors_, cores.where,
                fmt::format("{} must not be empty (leave it out to use every core)", what));
      return false;
    }
    bool ok = true;
    for (std::size_t i = 0; i < cores.items.size(); ++i) {
      const auto& element = cores.items[i];
      auto core = read_integer(element, fmt::format("element {} of {}", i + 1, what),
                               std::numeric_limits<int>::min(), std::numeric_limits<int>::max(),
                               errors_);
      if (!core) {
        ok = false;
      } else if (std::find(device.cores.begin(), device.cores.end(), *core) !=
                 device.cores.end()) {
        add_error(errors_, element.where,
                  fmt::format("{} lists core {} twice", device_name, *core));
        ok = false;
      } else {
        device.cores.push_back(static_cast<int>(*core));
        core_claims_.push_back({device.name, static_cast<int>(*core), element.where});
      }
    }
    return ok;
  }

  // The cores of the devices this process runs stages on must be this machine's; those of
  // devices only other nodes use are checked by those nodes.
  void check_cores_here() {
    std::set<std::string, std::less<>> here, elsewhere;
    for (const auto& s : graph_.stages) (s.node == local_node_ ? here : elsewhere).insert(s.device);
    std::vector<int> usable;
    for (const auto& claim : core_claims_) {
      if (!here.count(claim.device) && elsewhere.count(claim.device)) continue;
      if (usable.empty()) usable = usable_cpus();
      if (std::find(usable.begin(), usable.end(), claim.core) == usable.end())
        add_error(errors_, claim.where,
                  fmt::format("device '{}' lists core {}, but this machine has CPUs {}{}",
                              claim.device, claim.core, cpu_ranges(usable),
                              local_node_.empty() ? "" : fmt::format(" (node '{}')", local_node_)));
    }
  }

  void read_stages() {
    const auto* stages = root_.get("stages");
    if (stages == nullptr) {
      add_error(errors_, root_.where, "the graph has no stages; add [stages.NAME] tables");
      return;
    }
    stages = section("stages");
    if (stages == nullptr) return;
    if (stages->entries.empty()) {
      add_error(errors_, stages->where, "the graph has no stages; add [stages.NAME] tables");
      return;
    }
    stage_reading context{registry_, declared_devices_, declared_nodes_, defaults_};
    std::vector<stage_draft> drafts;
    for (const auto& entry : stages->entries)
      if (auto draft = read_stage(entry, context, errors_)) drafts.push_back(std::move(*draft));
    expand_moe_stages(drafts, *stages, context, graph_, errors_);
    link_stages(std::move(drafts), graph_, errors_);
    // Placement needs every stage, device and port type to be known and right.
    if (errors_.size() == errors_at_start_) place_stages(graph_, errors_);
  }

  const toml_node& root_;
  stage_registry& registry_;
  const device_registry& device_kinds_;
  std::vector<diagnostic>& errors_;
  const std::size_t errors_at_start_;
  graph_def graph_;
  edge_defaults defaults_;
  std::set<std::string, std::less<>> declared_devices_;
  std::set<std::string, std::less<>> declared_nodes_;
  const std::string local_node_;
  struct core_claim {
    std::string device;
    int core = 0;
    toml_position where;
  };
  std::vector<core_claim> core_claims_;  // every core a device lists, checked by check_cores_here
};

}  // namespace

std::optional<graph_def> validate_graph(const toml_node& root, const std::string& file,
                                        stage_registry& registry, std::vector<diagnostic>& errors,
                                        const std::string& local_node) {
  auto before = errors.size();
  auto graph = graph_validator(root, file, registry, errors, local_node).run();
  if (errors.size() != before) return std::nullopt;
  return graph;
}

}  // namespace loom
