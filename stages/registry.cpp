#include "stages/registry.hpp"

#include <set>
#include <stdexcept>

#include <fmt/format.h>

namespace loom {
namespace {

template <class Items, class Name>
void require_unique(const stage_spec& spec, const Items& items, Name name, std::string_view what) {
  std::set<std::string_view> seen;
  for (const auto& item : items)
    if (!seen.insert(name(item)).second)
      throw std::invalid_argument(
          fmt::format("stage type '{}' declares {} '{}' twice", spec.type, what, name(item)));
}

}  // namespace

void stage_registry::add(stage_spec spec, std::string origin) {
  if (spec.type.empty()) throw std::invalid_argument("a stage type needs a name");
  if (!spec.make)
    throw std::invalid_argument(fmt::format("stage type '{}' has no factory", spec.type));
  if (auto it = types_.find(spec.type); it != types_.end())
    throw std::invalid_argument(fmt::format("stage type '{}' is already registered (by {})",
                                            spec.type, it->second.origin));
  if (spec.inputs.size() == 1 && spec.inputs[0].name != "in")
    throw std::invalid_argument(fmt::format(
        "stage type '{}': a stage with one input names it 'in' (not '{}')", spec.type,
        spec.inputs[0].name));
  if (spec.outputs.size() == 1 && spec.outputs[0].name != "out")
    throw std::invalid_argument(fmt::format(
        "stage type '{}': a stage with one output names it 'out' (not '{}')", spec.type,
        spec.outputs[0].name));
  for (const auto& p : spec.params)
    for (std::string_view reserved : {"type", "device", "replicas", "inputs", "on_error", "restart"})
      if (p.key == reserved)
        throw std::invalid_argument(fmt::format(
            "stage type '{}': parameter '{}' would clash with the stage key of that name",
            spec.type, p.key));
  require_unique(spec, spec.inputs, [](const port_spec& p) { return std::string_view(p.name); },
                 "input port");
  require_unique(spec, spec.outputs, [](const port_spec& p) { return std::string_view(p.name); },
                 "output port");
  require_unique(spec, spec.params, [](const param_spec& p) { return std::string_view(p.key); },
                 "parameter");
  auto type = spec.type;
  types_.emplace(std::move(type), entry{std::move(spec), std::move(origin)});
}

const stage_spec* stage_registry::find(std::string_view type) const {
  auto it = types_.find(type);
  return it == types_.end() ? nullptr : &it->second.spec;
}

const std::string& stage_registry::origin(std::string_view type) const {
  auto it = types_.find(type);
  if (it == types_.end()) throw std::out_of_range(fmt::format("no stage type '{}'", type));
  return it->second.origin;
}

std::vector<const stage_spec*> stage_registry::all() const {
  std::vector<const stage_spec*> out;
  for (const auto& [name, e] : types_) out.push_back(&e.spec);
  return out;
}

stage_registry stage_registry::with_builtins() {
  stage_registry registry;
  register_builtin_stages(registry);
  return registry;
}

}  // namespace loom
