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

// `stage_keys` are skipped here (read elsewhere) but offered as "did you mean" suggestions.
checked_params check_params(const toml_node& table, const std::string& stage,
                            const stage_spec& spec, const std::vector<std::string>& stage_keys,
                            std::vector<diagnostic>& errors);

}  // namespace loom
