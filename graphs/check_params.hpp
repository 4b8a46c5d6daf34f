// A stage's parameters: every key of its table that is not one of the stage keys (type, device,
// inputs, ...), checked against the parameters its type declares.
#pragma once

#include <string>
#include <vector>

#include "graphs/diagnostics.hpp"
#include "graphs/toml_tree.hpp"
#include "stages/stage.hpp"

namespace loom {

struct checked_params {
  param_values values;    // every declared parameter that could be read, defaults filled in
  bool complete = false;  // no errors: `values` holds every declared key
};

// Whose parameters: `owner` as messages name it ("stage 'resize'", "device 'npu0'") and its type.
struct param_owner {
  std::string owner;
  std::string type;
  const std::vector<param_spec>& params;
  std::string_view word = "parameter";  // what messages call one of its keys
};

// `own_keys` (a stage's type, device, inputs...) are skipped here (read elsewhere) but offered
// as "did you mean" suggestions.
checked_params check_params(const toml_node& table, const param_owner& owner,
                            const std::vector<std::string>& own_keys,
                            std::vector<diagnostic>& errors);

}  // namespace loom
