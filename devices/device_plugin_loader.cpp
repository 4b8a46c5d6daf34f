// device_registry::load_plugin: opens a device plugin (devices/device_plugin_abi.h), checks it
// before calling into it, and registers its kind. Every refusal names the file, as the stage
// plugin loader's do (stages/plugin_loader.cpp), because the person reading it has to find which
// of the libraries beside libloom or in a graph file is at fault.
#include <dlfcn.h>

#include <cerrno>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <optional>
#include <stdexcept>
#include <type_traits>
#include <utility>
#include <variant>

#include <fmt/format.h>

#include "devices/device_plugin_abi.h"
#include "devices/device_registry.hpp"
#include "devices/plugin_device.hpp"

namespace loom {
namespace {

// A refusal, before the prefix that names the file is added.
struct refusal : std::runtime_error {
  using std::runtime_error::runtime_error;
};

bool same_file(const std::string& origin, const std::string& path) {
  std::error_code ec;
  return origin == path || std::filesystem::equivalent(origin, path, ec);
}

bool valid_kind_name(std::string_view kind) {
  if (kind.empty()) return false;
  for (char c : kind)
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) return false;
  return true;
}

// The entries without which a device cannot be used at all.
void check_required_entries(const loom_device_plugin& table) {
  const std::pair<const char*, bool> required[] = {
      {"kind", table.kind != nullptr},
      {"summary", table.summary != nullptr},
      {"params", table.params != nullptr || table.param_count == 0},
      {"describe", table.describe != nullptr},
      {"open", table.open != nullptr},
      {"close", table.close != nullptr},
      {"memory_free", table.memory_free != nullptr},
      {"alloc", table.alloc != nullptr},
      {"free", table.free != nullptr},
      {"copy_from_host", table.copy_from_host != nullptr},
      {"copy_to_host", table.copy_to_host != nullptr},
      {"copy_within", table.copy_within != nullptr}};
  for (const auto& [entry, present] : required)
    if (!present) throw refusal(fmt::format("required entry '{}' is NULL", entry));
  if (!valid_kind_name(table.kind))
    throw refusal(
        fmt::format("kind '{}' is not a kind name (lower case letters, digits, '_')", table.kind));

  // Memory that cannot be handed back would leak.
  if ((table.alloc_host == nullptr) != (table.free_host == nullptr))
    throw refusal(fmt::format("alloc_host and free_host come together, but '{}' is NULL",
                              table.alloc_host == nullptr ? "alloc_host" : "free_host"));

  // An event the plugin can record but not wait for or destroy would hang or leak.
  const std::pair<const char*, bool> events[] = {{"event_record", table.event_record != nullptr},
                                                 {"event_wait", table.event_wait != nullptr},
                                                 {"event_done", table.event_done != nullptr},
                                                 {"event_destroy", table.event_destroy != nullptr}};
  const bool any_event =
      table.event_record || table.event_wait || table.event_done || table.event_destroy;
  for (const auto& [entry, present] : events)
    if (any_event && !present)
      throw refusal(fmt::format("the four event entries come together, but '{}' is NULL", entry));
}

// A value in the ABI's spelling for `type`; nullopt when it does not parse.
std::optional<param_value> parse_value(loom_device_param_type type, const std::string& text) {
  switch (type) {
    case LOOM_DEVICE_PARAM_BOOLEAN:
      if (text == "true") return true;
      if (text == "false") return false;
      return std::nullopt;
    case LOOM_DEVICE_PARAM_INTEGER: {
      char* end = nullptr;
      errno = 0;
      long long value = std::strtoll(text.c_str(), &end, 10);
      if (text.empty() || *end != '\0' || errno != 0) return std::nullopt;
      return static_cast<std::int64_t>(value);
    }
    case LOOM_DEVICE_PARAM_NUMBER: {
      char* end = nullptr;
      double value = std::strtod(text.c_str(), &end);
      if (text.empty() || *end != '\0') return std::nullopt;
      return value;
    }
    case LOOM_DEVICE_PARAM_STRING: return text;
  }
  return std::nullopt;
}

std::optional<double> parse_limit(const loom_device_param& param, const char* limit,
                                  std::string_view which) {
  if (limit == nullptr) return std::nullopt;
  auto value = parse_value(LOOM_DEVICE_PARAM_NUMBER, limit);
  if (!value)
    throw refusal(fmt::format("parameter '{}': {} '{}' is not a number", param.key, which, limit));
  return std::get<double>(*value);
}

param_spec to_param_spec(const loom_device_param& param) {
  if (param.key == nullptr || *param.key == '\0') throw refusal("a parameter has no key");
  param_spec spec;
  spec.key = param.key;
  switch (param.type) {
    case LOOM_DEVICE_PARAM_BOOLEAN: spec.type = param_type::boolean; break;
    case LOOM_DEVICE_PARAM_INTEGER: spec.type = param_type::integer; break;
    case LOOM_DEVICE_PARAM_NUMBER: spec.type = param_type::number; break;
    case LOOM_DEVICE_PARAM_STRING: spec.type = param_type::string; break;
    default:
      throw refusal(fmt::format("parameter '{}' has unknown type {}", param.key,
                                static_cast<int>(param.type)));
  }
  if (param.default_value != nullptr) {
    spec.default_value = parse_value(param.type, param.default_value);
    if (!spec.default_value)
      throw refusal(fmt::format("parameter '{}': default '{}' is not a {}", param.key,
                                param.default_value, name_of(spec.type)));
  }
  spec.doc = param.doc == nullptr ? "" : param.doc;
  spec.min = parse_limit(param, param.min, "min");
  spec.max = parse_limit(param, param.max, "max");
  for (auto choice = param.choices; choice != nullptr && *choice != nullptr; ++choice)
    spec.choices.emplace_back(*choice);
  return spec;
}

// A checked value back in the ABI's spelling.
std::string to_abi_string(const std::string& key, const param_value& value) {
  return std::visit(
      [&key](const auto& v) -> std::string {
        using type = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<type, bool>)
          return v ? "true" : "false";
        else if constexpr (std::is_same_v<type, std::int64_t>)
          return std::to_string(v);
        else if constexpr (std::is_same_v<type, double>)
          return fmt::format("{}", v);
        else if constexpr (std::is_same_v<type, std::string>)
          return v;
        else
          throw std::invalid_argument(fmt::format(
              "device parameter '{}' holds a list; device plugins take single values", key));
      },
      value);
}

// The values a plugin gets: every declared key once, in declaration order, defaults filled in.
class abi_values {
 public:
  abi_values(const std::string& device, const std::vector<param_spec>& specs,
             const param_values& values) {
    for (const auto& spec : specs) {
      auto given = values.values().find(spec.key);
      if (given != values.values().end())
        strings_.emplace_back(spec.key, to_abi_string(spec.key, given->second));
      else if (spec.default_value)
        strings_.emplace_back(spec.key, to_abi_string(spec.key, *spec.default_value));
      else
        throw std::invalid_argument(
            fmt::format("device '{}': no value for its parameter '{}'", device, spec.key));
    }
    for (const auto& [key, value] : strings_) pairs_.push_back({key.c_str(), value.c_str()});
  }
  const loom_device_param_value* data() const { return pairs_.data(); }
  std::size_t size() const { return pairs_.size(); }

 private:
  std::vector<std::pair<std::string, std::string>> strings_;
  std::vector<loom_device_param_value> pairs_;
};

device_caps describe_device(const device_plugin& plugin, const std::vector<param_spec>& specs,
                            const std::string& name, const param_values& values) {
  abi_values args(name, specs, values);
  loom_device_caps caps{};
  char error[512] = "";
  if (plugin.table->describe(name.c_str(), args.data(), args.size(), &caps, error, sizeof error) !=
      LOOM_DEVICE_OK) {
    error[sizeof error - 1] = '\0';
    throw std::runtime_error(fmt::format("device '{}': {}", name, error));
  }
  return to_device_caps(caps);
}

std::unique_ptr<device> open_device(const std::shared_ptr<const device_plugin>& plugin,
                                    const std::vector<param_spec>& specs, const std::string& name,
                                    const param_values& values, const std::vector<int>& cores) {
  auto caps = describe_device(*plugin, specs, name, values);
  abi_values args(name, specs, values);
  char error[512] = "";
  loom_device* handle =
      plugin->table->open(name.c_str(), args.data(), args.size(), error, sizeof error);
  error[sizeof error - 1] = '\0';
  if (handle == nullptr)
    throw std::runtime_error(
        fmt::format("device '{}' ({}) cannot be opened: {}", name, plugin->table->kind, error));
  if (plugin->table->query_caps != nullptr) {
    loom_device_caps opened{};
    if (plugin->table->query_caps(handle, &opened, error, sizeof error) != LOOM_DEVICE_OK) {
      plugin->table->close(handle);
      error[sizeof error - 1] = '\0';
      throw std::runtime_error(fmt::format("device '{}': {}", name, error));
    }
    caps = to_device_caps(opened);
  }
  caps.cores = cores;
  return std::make_unique<plugin_device>(name, plugin, handle, std::move(caps));
}

// The devices the plugin finds. Its callback must not throw into C, so a failure inside it is
// carried out and rethrown once the plugin has returned.
std::vector<detected_device> detect_devices(const device_plugin& plugin) {
  if (plugin.table->detect == nullptr) return {};
  struct collected {
    std::vector<detected_device> devices;
    std::exception_ptr failure;
  } found;
  auto report = [](void* context, const char* name, const char* description,
                   const loom_device_caps* caps) {
    auto& into = *static_cast<collected*>(context);
    try {
      into.devices.push_back({name, description, to_device_caps(*caps), {}});
    } catch (...) {
      into.failure = std::current_exception();
    }
  };
  char error[512] = "";
  if (plugin.table->detect(report, &found, error, sizeof error) != LOOM_DEVICE_OK) {
    error[sizeof error - 1] = '\0';
    throw std::runtime_error(
        fmt::format("device plugin {}: detect failed: {}", plugin.path, error));
  }
  if (found.failure) std::rethrow_exception(found.failure);
  return std::move(found.devices);
}

// Opens the library and checks it before anything in it is called (its static constructors
// aside, which the dynamic loader runs).
std::shared_ptr<const device_plugin> open_library(const std::string& path) {
  namespace fs = std::filesystem;
  if (!fs::path(path).is_absolute()) throw refusal("path must be absolute");
  std::error_code ec;
  if (!fs::exists(path, ec)) throw refusal("no such file");
  if (!fs::is_regular_file(path, ec)) throw refusal("not a regular file");

  std::shared_ptr<void> library(dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL), [](void* handle) {
    if (handle != nullptr) dlclose(handle);
  });
  if (!library) throw refusal(fmt::format("not a loadable shared library ({})", dlerror()));
  auto* version =
      static_cast<const std::uint32_t*>(dlsym(library.get(), "loom_device_plugin_abi_version"));
  if (version == nullptr)
    throw refusal(
        "missing symbol loom_device_plugin_abi_version (is it a loom device plugin? see "
        "devices/device_plugin_abi.h)");
  if (*version != LOOM_DEVICE_PLUGIN_ABI_VERSION)
    throw refusal(fmt::format(
        "built for device plugin ABI version {}, this loom speaks version {}; rebuild it against "
        "this loom",
        *version, LOOM_DEVICE_PLUGIN_ABI_VERSION));
  auto describe = reinterpret_cast<loom_device_plugin_describe_fn>(
      dlsym(library.get(), "loom_device_plugin_describe"));
  if (describe == nullptr) throw refusal("missing symbol loom_device_plugin_describe");
  const loom_device_plugin* table = describe();
  if (table == nullptr) throw refusal("loom_device_plugin_describe returned no table");
  check_required_entries(*table);
  return std::make_shared<const device_plugin>(device_plugin{path, std::move(library), table});
}

}  // namespace

void device_registry::load_plugin(const std::string& path) {
  device_kind kind;
  try {
    auto plugin = open_library(path);
    const auto& table = *plugin->table;
    kind.kind = table.kind;
    for (std::size_t i = 0; i < table.param_count; ++i)
      kind.params.push_back(to_param_spec(table.params[i]));
    if (const auto* registered = find(kind.kind)) {
      // The same file a second time (spelled the same or not) adds nothing; another file may
      // not take a kind that is already there.
      if (same_file(registered->origin, path)) return;
      throw refusal(fmt::format("device kind '{}' is already registered (by {})", kind.kind,
                                registered->origin));
    }
    kind.summary = table.summary;
    kind.describe = [plugin, specs = kind.params](const std::string& name,
                                                  const param_values& values,
                                                  const std::vector<int>& cores) {
      auto caps = describe_device(*plugin, specs, name, values);
      caps.cores = cores;
      return caps;
    };
    kind.open = [plugin, specs = kind.params](const std::string& name, const param_values& values,
                                              const std::vector<int>& cores) {
      return open_device(plugin, specs, name, values, cores);
    };
    kind.detect = [plugin] { return detect_devices(*plugin); };
    kind.origin = path;
  } catch (const refusal& e) {
    throw std::runtime_error(fmt::format("device plugin {}: {}", path, e.what()));
  }
  add(std::move(kind));
}

}  // namespace loom
