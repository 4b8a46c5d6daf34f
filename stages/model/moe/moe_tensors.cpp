#include "stages/model/moe/moe_tensors.hpp"

#include <stdexcept>

#include <fmt/format.h>

namespace loom {

const tensor& moe_input(const packet& p, std::int64_t d_model, const std::string& stage) {
  const tensor* x = p.find("data");
  if (x == nullptr && p.tensors.size() == 1) x = &p.tensors.front().value;
  if (x == nullptr)
    throw std::invalid_argument(fmt::format(
        "moe '{}': the input packet has {} tensors and none is called \"data\"", stage,
        p.tensors.size()));
  if (x->type() != dtype::f32 || x->rank() != 2 || x->shape()[1] != d_model ||
      x->strides()[1] != 1 || x->shape()[0] == 0)
    throw std::invalid_argument(fmt::format(
        "moe '{}': the input must be f32 [tokens, {}] (d_model = {}) with dense rows, got {} {}",
        stage, d_model, d_model, name_of(x->type()), to_string(x->shape())));
  return *x;
}

double moe_known_tokens(const port_type& input) {
  if (!input.shape || input.shape->size() != 2 || (*input.shape)[0] <= 0) return 1;
  return static_cast<double>((*input.shape)[0]);
}

}  // namespace loom
