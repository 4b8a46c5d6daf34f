// The stage API: what a stage type declares (ports, parameters) and the three hooks an instance
// implements. Stages are plain C++ on packets of tensors; they never see the actor runtime, so
// a test drives one with a `stage_context` it builds itself.
//
// A stage type is declared once, without side effects, so `loom check` and `loom stages` need
// no device. The runtime calls `open` once, `process` once per input set (for a source: again
// and again until it calls `finish`), and `close` once, never from two threads at a time.
//
// Batches: a type that declares `batches = true` may be given `batch = { max, timeout_ms }` in a
// graph file. The runtime then collects up to `max` input sets and calls `process_batch` once for
// all of them, so that a device runs one large product instead of many small ones:
//
//   void process_batch(stage_context& ctx) override {
//     for (std::size_t item = 0; item < ctx.batch_size(); ++item)
//       rows += ctx.input("in", item).at("data").shape()[0];   // read every item's inputs
//     ... one call on the device for all of them ...
//     for (std::size_t item = 0; item < ctx.batch_size(); ++item)
//       ctx.emit_item(item, "out", result_of(item));           // each item's outputs, by index
//   }
//
// Inside `process_batch` the item is always named: `input(port, item)` and `emit_item(item, port,
// packet)`; `input(port)` and `emit(port, packet)` throw there, since they could only guess which
// item was meant. Each item's outputs go downstream in item order, whatever order they were
// emitted in, and in the order emitted within one item. If `process_batch` throws, every input
// set of the batch has failed and everything it emitted is discarded. Without `batch` in the
// graph, a batching type is called with `process` as any other.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "devices/device.hpp"
#include "devices/dtype.hpp"
#include "stages/packet.hpp"
#include "stages/params.hpp"
#include "stages/run_info.hpp"

namespace loom {

// What a port carries, as far as it is known before anything runs.
struct port_type {
  std::optional<dtype> type;    // of the port's main tensor; none: any
  std::optional<int> rank;      // none: any
  std::optional<dims> shape = std::nullopt;  // when known before the run (for the planner)
};

// What one call of `process` costs, as the planner estimates it before anything runs.
struct stage_cost {
  double flops = 0;                 // arithmetic per call
  std::size_t resident_bytes = 0;   // device memory held while open (weights, scratch)
};

struct port_spec {
  std::string name;
  std::string doc;
  port_type accepts;  // inputs: what the port takes; outputs: what it produces when not inferred
};

class stage;
class stage_context;

// How a stage with several input ports is called.
enum class input_order {
  aligned_by_sequence,  // once per set of packets with equal sequence numbers, one per port
  as_they_arrive,       // once per packet, from whichever port has one (`arrived_port`)
};

struct stage_spec {
  std::string type;
  std::string summary;  // one line, for `loom stages`
  std::string doc;      // prose and a TOML example, for `loom stages TYPE`
  std::vector<port_spec> inputs;
  std::vector<port_spec> outputs;
  std::vector<param_spec> params;
  input_order inputs_order = input_order::aligned_by_sequence;
  std::function<std::unique_ptr<stage>()> make;
  // Output types from the parameters and the input types, when they depend on them. Pure.
  std::function<std::vector<port_type>(const param_values&, const std::vector<port_type>& inputs)> infer;
  // Device kinds whose memory this stage type works in ("*": any, for stages that never touch
  // tensor data). A stage placed on another kind is an error at check time.
  std::vector<std::string> device_kinds{"cpu"};
  // Cost per call from the parameters and the input types, for placement and `loom plan`. Pure;
  // none: negligible.
  std::function<stage_cost(const param_values&, const std::vector<port_type>& inputs)> estimate;
  // This type handles several input sets in one call (`stage::process_batch`), so a graph may
  // give it `batch = { max, timeout_ms }`.
  bool batches = false;
  // `process` may block (waiting on a socket, in short slices): the runtime gives each replica a
  // thread of its own instead of a shared scheduler thread.
  bool blocking = false;

  bool is_source() const { return inputs.empty(); }
  bool is_sink() const { return outputs.empty(); }
  const param_spec* param(std::string_view key) const;
  std::optional<std::size_t> input_index(std::string_view port) const;
  std::optional<std::size_t> output_index(std::string_view port) const;
};

class stage {
 public:
  virtual ~stage() = default;
  virtual void open(stage_context&) {}
  virtual void process(stage_context& ctx) = 0;
  // Called instead of `process` for a stage with `batch`, with `ctx.batch_size()` input sets.
  // The default calls `process` once per set, as if each came alone.
  virtual void process_batch(stage_context& ctx);
  virtual void close(stage_context&) {}
};

class stage_context {
 public:
  stage_context(std::string name, const stage_spec& spec, param_values values,
                std::string device = "cpu", int replica = 0);

  const std::string& name() const { return name_; }
  const stage_spec& spec() const { return *spec_; }
  const param_values& params() const { return params_; }
  const std::string& device_name() const { return device_; }
  // The device this stage runs on: allocate outputs there, run math there.
  loom::device& device() const { return *device_ptr_; }
  int replica() const { return replica_; }
  const run_info& run() const { return run_; }

  // The input port of this call, for stages whose inputs come `as_they_arrive`.
  std::string_view arrived_port() const { return spec_->inputs.at(arrived_.at(item())).name; }

  // The packet on an input port for this call.
  const packet& input(std::string_view port = "in") const { return *input_ptr(port); }
  const packet_ptr& input_ptr(std::string_view port = "in") const {
    return input_ptr(port, item());
  }
  // Hands the input packet over to the stage (to forward it without touching its reference
  // count); `input` is empty for that port afterwards.
  packet_ptr take_input(std::string_view port = "in");

  void emit(std::string_view port, packet_ptr p) { emit_item(item(), port, std::move(p)); }
  void emit(std::string_view port, packet p) {
    emit(port, std::make_shared<const packet>(std::move(p)));
  }

  // -- batches (see the top of this file); in `process`, the one input set is item 0 --
  // Input sets in this call.
  std::size_t batch_size() const { return items_; }
  const packet& input(std::string_view port, std::size_t item) const {
    return *input_ptr(port, item);
  }
  const packet_ptr& input_ptr(std::string_view port, std::size_t item) const;
  std::string_view arrived_port(std::size_t item) const {
    return spec_->inputs.at(arrived_.at(checked_item(item))).name;
  }
  // An output of input set `item`.
  void emit_item(std::size_t item, std::string_view port, packet_ptr p);
  void emit_item(std::size_t item, std::string_view port, packet p) {
    emit_item(item, port, std::make_shared<const packet>(std::move(p)));
  }

  // Adds `n` to element `index` of the counter named `counter`, a vector grown as needed (up to
  // `max_counter_elements`). The runtime sums counters over calls and replicas and reports them
  // in the stage's `counters` stat, e.g. tokens routed to each expert.
  void count(std::string_view counter, std::size_t index, std::uint64_t n = 1);
  static constexpr std::size_t max_counter_elements = 1 << 16;
  using counter_values = std::vector<std::uint64_t>;
  using counter_map = std::map<std::string, counter_values, std::less<>>;
  const counter_map& counters() const { return counters_; }

  // Sources: no more packets will come from this stage.
  void finish() { finished_ = true; }
  bool finished() const { return finished_; }
  // Sources: nothing to emit yet; call `process` again after `delay` (pacing, polling).
  void retry_after(std::chrono::microseconds delay) { retry_after_ = delay; }
  // A stop was requested (SIGINT/SIGTERM): sources should finish.
  bool stop_requested() const { return stop_requested_; }
  // The run is being abandoned (a second interrupt, a failure elsewhere): nothing more will be
  // delivered. Unlike stop_requested() it is set from another thread while a call runs, so a
  // stage that blocks in `process` or `close` (a `blocking` spec) polls it and gives up its wait.
  bool abandoned() const {
    return abandoned_ != nullptr && abandoned_->load(std::memory_order_relaxed);
  }

  // Reports something the user should see (a reconnect, a gap), as one line naming the stage.
  void log(std::string_view message) const;
  // Counts packets this stage discarded on purpose (a live source skipping late frames); they
  // appear in the stage's `dropped` stat.
  void count_dropped(std::uint64_t packets = 1) { dropped_ += packets; }

  // -- used by the runtime and by tests that drive a stage by hand --
  // A call of `process`: one input set.
  void set_input(std::size_t index, packet_ptr p) {
    arrived_[0] = index;
    inputs_.at(index) = std::move(p);
  }
  // A call of `process_batch` with `items` input sets (at least 1), each set with
  // `set_batch_input`; `end_batch` goes back to calls of `process`.
  void start_batch(std::size_t items);
  void set_batch_input(std::size_t item, std::size_t index, packet_ptr p) {
    arrived_.at(item) = index;
    inputs_.at(item * spec_->inputs.size() + index) = std::move(p);
  }
  void end_batch();
  // The default `process_batch`: the item that `input(port)` and `emit(port, packet)` mean.
  void focus_item(std::size_t item) { current_ = checked_item(item); }
  const packet_ptr& input_at(std::size_t index, std::size_t item = 0) const {
    return inputs_.at(item * spec_->inputs.size() + index);
  }
  // Swaps the packet on a port for another (its copy in device memory) without changing which
  // port the call is for.
  void replace_input(std::size_t index, packet_ptr p, std::size_t item = 0) {
    inputs_.at(item * spec_->inputs.size() + index) = std::move(p);
  }
  void clear_inputs() {
    for (auto& p : inputs_) p.reset();
  }
  // What the call emitted, as (output port, packet); in a batched call `emitted_items` holds
  // the item of each.
  std::vector<std::pair<std::size_t, packet_ptr>>& emitted() { return emitted_; }
  const std::vector<std::size_t>& emitted_items() const { return emitted_items_; }
  std::optional<std::chrono::microseconds> take_retry() { return std::exchange(retry_after_, {}); }
  void request_stop() { stop_requested_ = true; }
  void set_abandoned(std::shared_ptr<const std::atomic<bool>> flag) { abandoned_ = std::move(flag); }
  void set_run_info(run_info info) { run_ = std::move(info); }
  void set_log(std::function<void(const std::string&)> log) { log_ = std::move(log); }
  void set_device(loom::device& d) { device_ptr_ = &d; }
  std::uint64_t take_dropped() { return std::exchange(dropped_, 0); }

 private:
  std::string name_;
  const stage_spec* spec_;
  param_values params_;
  std::string device_;
  loom::device* device_ptr_;
  int replica_;
  run_info run_;
  static constexpr std::size_t no_item = static_cast<std::size_t>(-1);
  // The item `input(port)` and `emit(port, packet)` mean; none inside `process_batch`.
  std::size_t item() const {
    if (current_ == no_item) throw_unnamed_item();
    return current_;
  }
  std::size_t checked_item(std::size_t item) const {
    if (item >= items_) throw_item_out_of_range(item);
    return item;
  }
  [[noreturn]] void throw_unnamed_item() const;
  [[noreturn]] void throw_item_out_of_range(std::size_t item) const;

  std::vector<packet_ptr> inputs_;   // item-major: items_ × input ports
  std::vector<std::size_t> arrived_;  // per item: its port, for inputs taken as they arrive
  std::size_t items_ = 1;
  std::size_t current_ = 0;
  bool batched_ = false;
  // A stage mostly names the same port call after call: try the last one found first.
  mutable std::size_t last_input_ = 0, last_output_ = 0;
  std::function<void(const std::string&)> log_;
  std::uint64_t dropped_ = 0;
  counter_map counters_;
  std::vector<std::pair<std::size_t, packet_ptr>> emitted_;
  std::vector<std::size_t> emitted_items_;
  std::optional<std::chrono::microseconds> retry_after_;
  bool finished_ = false;
  bool stop_requested_ = false;
  std::shared_ptr<const std::atomic<bool>> abandoned_;
};

}  // namespace loom
