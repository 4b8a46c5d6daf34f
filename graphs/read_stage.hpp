// One [stages.X] table: the stage keys (type, device, node, replicas, inputs, on_error, restart), and
// its parameters through check_params.
#pragma once

#include <cstddef>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "graphs/diagnostics.hpp"
#include "graphs/link_stages.hpp"
#include "graphs/toml_tree.hpp"
#include "stages/registry.hpp"

namespace loom {

// Graph-wide edge options from [graph], for inputs that do not set their own.
struct edge_defaults {
  std::size_t capacity = 64;
  full_policy policy = full_policy::block;
};

// Limits on values that size the runtime; beyond them a typo would allocate without bound.
constexpr std::int64_t max_edge_capacity = 1 << 20;
constexpr std::int64_t max_replicas = 1024;

extern const std::vector<std::string> full_policy_names;  // "block", "drop_oldest", "drop_newest"
full_policy full_policy_named(std::string_view name);      // one of full_policy_names

struct stage_reading {
  const stage_registry& registry;
  const std::set<std::string, std::less<>>& devices;  // every device declared, valid or not
  const std::set<std::string, std::less<>>& nodes;    // every node declared, valid or not
  edge_defaults defaults;
};

// None when the entry is not a usable table (reported).
std::optional<stage_draft> read_stage(const toml_entry& entry, const stage_reading& context,
                                      std::vector<diagnostic>& errors);

}  // namespace loom
