// `loom stages [TYPE]`: the registered stage types, or one type's ports and parameters.
#include <cstdio>
#include <filesystem>

#include <fmt/format.h>

#include "cli/commands.hpp"
#include "stages/plugin_loader.hpp"
#include "stages/registry.hpp"

namespace loom::cli {
namespace {

std::string describe(const port_type& t) {
  std::string out;
  if (t.type) out += std::string(name_of(*t.type));
  if (t.rank) out += (out.empty() ? "" : ", ") + fmt::format("rank {}", *t.rank);
  return out.empty() ? "any" : out;
}

std::string limits(const param_spec& p) {
  std::string out;
  if (p.min) out += fmt::format(" >= {}", *p.min);
  if (p.max) out += fmt::format(" <= {}", *p.max);
  if (!p.choices.empty()) {
    out += " one of:";
    for (const auto& c : p.choices) out += " " + c;
  }
  return out;
}

void print_type(const stage_spec& spec, const std::string& origin) {
  std::printf("%s — %s\n(from %s)\n\n%s\n\n", spec.type.c_str(), spec.summary.c_str(),
              origin.c_str(), spec.doc.c_str());
  std::printf("inputs:\n");
  if (spec.inputs.empty()) std::printf("  (none: a source)\n");
  for (const auto& p : spec.inputs)
    std::printf("  %-12s %-16s %s\n", p.name.c_str(), describe(p.accepts).c_str(), p.doc.c_str());
  std::printf("outputs:\n");
  if (spec.outputs.empty()) std::printf("  (none: a sink)\n");
  for (const auto& p : spec.outputs)
    std::printf("  %-12s %-16s %s\n", p.name.c_str(), describe(p.accepts).c_str(), p.doc.c_str());
  std::printf("parameters:\n");
  if (spec.params.empty()) std::printf("  (none)\n");
  for (const auto& p : spec.params) {
    auto def = p.default_value ? "default " + to_toml(*p.default_value) : std::string("required");
    std::printf("  %-12s %-17s %-20s %s%s\n", p.key.c_str(), std::string(name_of(p.type)).c_str(),
                def.c_str(), p.doc.c_str(), limits(p).c_str());
  }
  std::printf(
      "\nevery stage also takes: type, device, placement, replicas, inputs, on_error, restart, "
      "batch (see docs/graph-format.md)\n");
  if (spec.batches)
    std::printf("%s takes batches: `batch = { max, timeout_ms }` calls it with up to max input "
                "sets at once\n",
                spec.type.c_str());
  else
    std::printf("%s does not take batches: a graph that gives it `batch` is refused\n",
                spec.type.c_str());
}

}  // namespace

int stages_command(const std::string& type, const std::vector<std::string>& plugins) {
  auto registry = stage_registry::with_builtins();
  for (const auto& path : plugins) {
    try {
      load_plugin(std::filesystem::absolute(path).string(), registry);
    } catch (const plugin_error& e) {
      std::fprintf(stderr, "loom: error: %s\n", e.what());
      return exit_invalid;
    }
  }
  if (type.empty()) {
    for (const auto* spec : registry.all())
      std::printf("%-20s %s\n", spec->type.c_str(), spec->summary.c_str());
    std::printf("\n`loom stages TYPE` shows one type's ports and parameters.\n");
    return exit_ok;
  }
  const auto* spec = registry.find(type);
  if (spec == nullptr) {
    std::string known;
    for (const auto* s : registry.all()) known += (known.empty() ? "" : ", ") + s->type;
    std::fprintf(stderr, "loom: error: no stage type '%s' (known: %s)\n", type.c_str(),
                 known.c_str());
    return exit_invalid;
  }
  print_type(*spec, registry.origin(type));
  return exit_ok;
}

}  // namespace loom::cli
