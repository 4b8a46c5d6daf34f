#include "stages/stage.hpp"

#include <cstdio>
#include <stdexcept>

#include <fmt/format.h>

namespace loom {
namespace {

template <class Ports>
std::optional<std::size_t> index_of(const Ports& ports, std::string_view name) {
  for (std::size_t i = 0; i < ports.size(); ++i)
    if (ports[i].name == name) return i;
  return std::nullopt;
}

}  // namespace

const param_spec* stage_spec::param(std::string_view key) const {
  for (const auto& p : params)
    if (p.key == key) return &p;
  return nullptr;
}

std::optional<std::size_t> stage_spec::input_index(std::string_view port) const {
  return index_of(inputs, port);
}

std::optional<std::size_t> stage_spec::output_index(std::string_view port) const {
  return index_of(outputs, port);
}

stage_context::stage_context(std::string name, const stage_spec& spec, param_values values,
                             std::string device, int replica)
    : name_(std::move(name)), spec_(&spec), params_(std::move(values)),
      device_(std::move(device)), device_ptr_(&host_device()), replica_(replica),
      inputs_(spec.inputs.size()) {}

const packet_ptr& stage_context::input_ptr(std::string_view port) const {
  if (last_input_ < inputs_.size() && spec_->inputs[last_input_].name == port && inputs_[last_input_])
    return inputs_[last_input_];
  auto index = spec_->input_index(port);
  if (!index)
    throw std::out_of_range(fmt::format("stage '{}' ({}) has no input port '{}'", name_,
                                        spec_->type, port));
  last_input_ = *index;
  const auto& p = inputs_[*index];
  if (!p) throw std::logic_error(fmt::format("stage '{}': no packet on input '{}'", name_, port));
  return p;
}

void stage_context::log(std::string_view message) const {
  auto line = fmt::format("stage '{}' ({}){}: {}", name_, spec_->type,
                          replica_ > 0 ? fmt::format(" replica {}", replica_) : "", message);
  if (log_)
    log_(line);
  else
    std::fprintf(stderr, "loom: %s\n", line.c_str());
}

packet_ptr stage_context::take_input(std::string_view port) {
  auto taken = std::move(const_cast<packet_ptr&>(input_ptr(port)));
  return taken;
}

void stage_context::emit(std::string_view port, packet_ptr p) {
  if (last_output_ < spec_->outputs.size() && spec_->outputs[last_output_].name == port) {
    emitted_.emplace_back(last_output_, std::move(p));
    return;
  }
  auto index = spec_->output_index(port);
  if (!index)
    throw std::out_of_range(fmt::format("stage '{}' ({}) has no output port '{}'", name_,
                                        spec_->type, port));
  last_output_ = *index;
  emitted_.emplace_back(*index, std::move(p));
}

}  // namespace loom
