// The stage API's out-of-line parts: port lookups, the context's inputs and outputs per item of
// a batch, named counters, and the default `process_batch`.
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

void stage::process_batch(stage_context& ctx) {
  for (std::size_t item = 0; item < ctx.batch_size(); ++item) {
    ctx.focus_item(item);
    process(ctx);
  }
}

stage_context::stage_context(std::string name, const stage_spec& spec, param_values values,
                             std::string device, int replica)
    : name_(std::move(name)), spec_(&spec), params_(std::move(values)),
      device_(std::move(device)), device_ptr_(&host_device()), replica_(replica),
      inputs_(spec.inputs.size()), arrived_(1, 0) {}

const packet_ptr& stage_context::input_ptr(std::string_view port, std::size_t item) const {
  const auto ports = spec_->inputs.size();
  const auto first = checked_item(item) * ports;
  if (last_input_ < ports && spec_->inputs[last_input_].name == port &&
      inputs_[first + last_input_])
    return inputs_[first + last_input_];
  auto index = spec_->input_index(port);
  if (!index)
    throw std::out_of_range(fmt::format("stage '{}' ({}) has no input port '{}'", name_,
                                        spec_->type, port));
  last_input_ = *index;
  const auto& p = inputs_[first + *index];
  if (!p)
    throw std::logic_error(fmt::format("stage '{}': no packet on input '{}'{}", name_, port,
                                       items_ > 1 ? fmt::format(" of item {}", item) : ""));
  return p;
}

void stage_context::start_batch(std::size_t items) {
  if (items == 0) throw std::logic_error(fmt::format("stage '{}': a batch of no items", name_));
  items_ = items;
  current_ = no_item;
  batched_ = true;
  inputs_.assign(items * spec_->inputs.size(), nullptr);
  arrived_.assign(items, 0);
  emitted_items_.clear();
}

void stage_context::end_batch() {
  items_ = 1;
  current_ = 0;
  batched_ = false;
  inputs_.assign(spec_->inputs.size(), nullptr);
  arrived_.assign(1, 0);
  emitted_items_.clear();
}

void stage_context::throw_unnamed_item() const {
  throw std::logic_error(fmt::format(
      "stage '{}' ({}): input(port) and emit(port, packet) in process_batch do not say which "
      "of the {} items they mean; use input(port, item) and emit_item(item, port, packet)",
      name_, spec_->type, items_));
}

void stage_context::throw_item_out_of_range(std::size_t item) const {
  throw std::out_of_range(fmt::format("stage '{}' ({}): no item {} in a batch of {}", name_,
                                      spec_->type, item, items_));
}

void stage_context::count(std::string_view counter, std::size_t index, std::uint64_t n) {
  if (index >= max_counter_elements)
    throw std::out_of_range(fmt::format(
        "stage '{}' ({}): element {} of counter '{}' is past the limit of {} elements per counter",
        name_, spec_->type, index, counter, max_counter_elements));
  auto found = counters_.find(counter);
  if (found == counters_.end())
    found = counters_.emplace(std::string(counter), counter_values()).first;
  auto& values = found->second;
  if (values.size() <= index) values.resize(index + 1);
  values[index] += n;
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

void stage_context::emit_item(std::size_t item, std::string_view port, packet_ptr p) {
  checked_item(item);
  if (last_output_ >= spec_->outputs.size() || spec_->outputs[last_output_].name != port) {
    auto index = spec_->output_index(port);
    if (!index)
      throw std::out_of_range(fmt::format("stage '{}' ({}) has no output port '{}'", name_,
                                          spec_->type, port));
    last_output_ = *index;
  }
  emitted_.emplace_back(last_output_, std::move(p));
  if (batched_) emitted_items_.push_back(item);
}

}  // namespace loom
