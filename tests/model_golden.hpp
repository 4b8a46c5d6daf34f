// One golden case of the PyTorch reference (tests/model/goldens/README.md): `<stem>.json` names
// the stage, its parameters, the packet's sequence number and the tolerance; `<stem>.safetensors`
// holds the weights and the tensors golden.input.<name> and golden.output.<name>. Shared by the
// tests of every model stage.
#pragma once

#include <boost/test/unit_test.hpp>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "stages/model/json_value.hpp"
#include "stages/model/layers/widen.hpp"
#include "stages/model/safetensors.hpp"
#include "stages/stage.hpp"

namespace loom::test {

struct model_golden {
  std::string stem;
  std::string stage;          // the stage type
  std::string weights_path;   // the .safetensors file
  double tolerance = 0;       // on the relative RMS error of each output
  std::uint64_t sequence = 0;
  json_value config;
  safetensors_file file;

  // The parameters of the json, typed as `spec` declares them, defaults for the rest, and
  // weights = the golden's file.
  param_values params(const stage_spec& spec) const {
    std::map<std::string, param_value, std::less<>> values;
    for (const auto& p : spec.params) {
      if (p.default_value) values[p.key] = *p.default_value;
      const json_value* v = config.find("params")->find(p.key);
      if (v == nullptr) continue;
      if (p.type == param_type::integer) values[p.key] = *v->integer();
      if (p.type == param_type::number) values[p.key] = v->number();
      if (p.type == param_type::string) values[p.key] = v->string();
      if (p.type == param_type::boolean) values[p.key] = v->boolean();
    }
    values["weights"] = weights_path;
    return param_values(std::move(values));
  }

  // A packet with every golden.input.* tensor under its own name.
  packet input() const {
    packet p;
    p.sequence = sequence;
    for (const auto& name : file.names())
      if (name.rfind("golden.input.", 0) == 0) p.tensors.push_back({name.substr(13), file.get(name)});
    BOOST_REQUIRE_MESSAGE(!p.tensors.empty(), stem << " has no golden.input.* tensor");
    return p;
  }

  // The golden.output.* tensors, by name without the prefix.
  std::vector<std::pair<std::string, const tensor*>> outputs() const {
    std::vector<std::pair<std::string, const tensor*>> out;
    for (const auto& name : file.names())
      if (name.rfind("golden.output.", 0) == 0) out.emplace_back(name.substr(14), &file.get(name));
    return out;
  }
};

inline model_golden read_model_golden(const std::string& stem) {
  const auto base = std::filesystem::path(LOOM_SOURCE_DIR) / "tests" / "model" / "goldens" / stem;
  std::ifstream in(base.string() + ".json");
  BOOST_REQUIRE_MESSAGE(in, "no golden " << base.string()
                                         << ".json (tools/reference/make_model_goldens.py)");
  std::stringstream text;
  text << in.rdbuf();
  json_value config = parse_json(text.str());
  model_golden g{stem,
                 config.find("stage")->string(),
                 base.string() + ".safetensors",
                 config.find("tolerance")->number(),
                 static_cast<std::uint64_t>(config.find("sequence")->integer().value_or(0)),
                 config,
                 safetensors_file::open(base.string() + ".safetensors")};
  return g;
}

// ||found − expected|| / ||expected||, in double.
inline double relative_rms_error(const tensor& found, const tensor& expected) {
  const auto a = widen_to_f32(found), b = widen_to_f32(expected);
  BOOST_REQUIRE_EQUAL(a.size(), b.size());
  double error = 0, reference = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    error += (double(a[i]) - b[i]) * (double(a[i]) - b[i]);
    reference += double(b[i]) * b[i];
  }
  return std::sqrt(error / reference);
}

}  // namespace loom::test
