#include "actors/stage_actor.hpp"

#include <algorithm>
#include <chrono>
#include <exception>
#include <numeric>

#include <fmt/format.h>

#include "actors/batch_collector.hpp"
#include "actors/busy_timer.hpp"
#include "actors/failure_policy.hpp"
#include "actors/input_aligner.hpp"
#include "actors/messages.hpp"
#include "actors/move_to_device.hpp"
#include "actors/same_thread_delivery.hpp"

namespace loom {
namespace {

// Sources yield to other actors after this many packets, so one fast source whose edges drop
// instead of blocking cannot hog a scheduler thread.
constexpr int source_burst = 256;
// After this many logged errors a replica logs only every 1000th.
constexpr std::uint64_t errors_logged_in_full = 10;

class stage_actor : public caf::event_based_actor {
 public:
  explicit stage_actor(caf::actor_config& config) : caf::event_based_actor(config) {}

  // Plans hold handles of neighbouring actors; dropping them here breaks the reference cycles
  // that would otherwise keep finished actors (and detached actors' threads) alive.
  void on_exit() override {
    senders_.clear();
    inputs_.clear();
    plan_.reset();
    delivery_.reset();
  }

  caf::behavior make_behavior() override {
    // Handlers are tried in order, and every miss costs a type comparison: hot ones first.
    return {
        [this](data_msg& m) {
          for (auto& message : m.batch) inputs_[m.port].push(m.lane, std::move(message));
          pump();
        },
        [this](credit_msg& m) {
          senders_[m.link].grant(m.credits);
          pump();
        },
        [this](tick_msg) {
          tick_pending_ = false;
          pump();
        },
        [this](eos_msg& m) {
          inputs_[m.port].end(m.lane);
          pump();
        },
        [this](init_msg& m) { return init(std::move(m.plan)); },
        [this](start_msg) { pump(); },
        [this](stop_msg) {
          if (ctx_) ctx_->request_stop();
          pump();
        },
        [this](snapshot_msg) { return done_msg{final_report()}; },
    };
  }

 private:
  opened_msg init(std::shared_ptr<const replica_plan> plan) {
    plan_ = std::move(plan);
    report_.stage = stage().name;
    report_.replica = plan_->replica;
    policy_.emplace(stage().on_error, stage().restart);
    for (std::size_t p = 0; p < plan_->inputs.size(); ++p) {
      const auto& port = plan_->inputs[p];
      inputs_.emplace_back(port.lanes.size(), port.capacity,
                           [this, p](std::size_t lane, std::size_t credits) {
                             const auto& from = plan_->inputs[p].lanes[lane];
                             send(from.producer,
                                  credit_msg{from.producer_link, static_cast<std::uint32_t>(credits)});
                           });
    }
    for (const auto& link : plan_->links) {
      if (link.on_producer_thread && !delivery_) delivery_.emplace(system());
      senders_.emplace_back(
          link.capacity, link.policy,
          [this, &link](link_sender::batch&& b) {
            send_to_consumer(link, data_msg{link.port, link.lane, std::move(b)});
          },
          [this, &link] { send_to_consumer(link, eos_msg{link.port, link.lane}); });
    }
    dispatch_counters_.resize(plan_->links.size());
    if (stage().batch) batch_.emplace(*stage().batch);
    opened_msg reply{stage().name, plan_->replica, {}};
    report_.bytes_transferred.resize(plan_->inputs.size());
    for (const auto& port : plan_->inputs) moves_inputs_ = moves_inputs_ || port.transfer;
    try {
      plan_->runs_on->bind_thread();
      open_stage();
    } catch (const std::exception& e) {
      reply.error = e.what();
    }
    return reply;
  }

  const stage_def& stage() const { return *plan_->stage; }

  // A link whose consumer may run on this thread goes through delivery_, the others through
  // CAF's scheduler.
  template <class Message>
  void send_to_consumer(const replica_plan::out_link& link, Message&& message) {
    if (link.on_producer_thread)
      delivery_->deliver(link.consumer, caf::strong_actor_ptr{ctrl()},
                         std::forward<Message>(message));
    else
      send(link.consumer, std::forward<Message>(message));
  }

  void open_stage() {
    ctx_.emplace(stage().name, *stage().spec, stage().values, stage().device, plan_->replica);
    ctx_->set_run_info(plan_->run);
    ctx_->set_log(plan_->log);
    ctx_->set_abandoned(plan_->abandoned);
    ctx_->set_device(*plan_->runs_on);
    instance_ = stage().spec->make();
    instance_->open(*ctx_);
  }

  bool stalled() const {
    for (const auto& s : senders_)
      if (s.stalled()) return true;
    return false;
  }

  // Every handler that may send ends here: a consumer woken on this thread runs before the
  // thread goes back to waiting (same_thread_delivery.hpp).
  void pump() {
    work();
    run_woken_consumers();
  }

  void run_woken_consumers() {
    if (delivery_) delivery_->run_woken();
  }

  void work() {
    if (!instance_ || closed_) {
      // A closed stage still sends what credit lets out of its queues.
      for (auto& s : senders_) s.flush();
      return maybe_done();
    }
    // Shared counters are touched once per pump, not once per packet.
    auto in_before = report_.packets_in, out_before = report_.packets_out;
    auto calls_before = calls_;
    int burst = 0;
    while (!stalled() && !failed_ && !plan_->abandoned->load(std::memory_order_relaxed)) {
      if (stage().spec->is_source()) {
        if (ctx_->finished()) break;
        if (++burst > source_burst) {
          schedule_tick(std::chrono::microseconds(0));
          break;
        }
        run_process(0, true);
        if (auto delay = ctx_->take_retry()) {
          schedule_tick(*delay);
          break;
        }
      } else if (batch_) {
        if (!batch_ready()) break;
        run_batch();
      } else {
        if (!take_inputs()) break;
        run_process(set_.ticket, set_.last);
      }
    }
    for (auto& s : senders_) s.flush();
    // Where the round's calls ran: one look per round, not per call (it is a system call).
    if (calls_ != calls_before) report_.cpus.add(current_cpu());
    if (report_.packets_in != in_before || report_.packets_out != out_before) {
      plan_->live_in->fetch_add(report_.packets_in - in_before, std::memory_order_relaxed);
      plan_->live_out->fetch_add(report_.packets_out - out_before, std::memory_order_relaxed);
    }
    if (failed_) return;
    bool inputs_done = stage().spec->is_source()
                           ? ctx_->finished()
                           : all_exhausted(inputs_) && (!batch_ || batch_->empty());
    if (inputs_done && !closed_) close_stage();
    maybe_done();
  }

  bool takes_inputs_as_they_arrive() const {
    return stage().spec->inputs_order == input_order::as_they_arrive;
  }

  // The next input set into `set_`, its first packet for port `first_port`; false when none
  // is complete yet.
  bool take_set(std::size_t& first_port) {
    first_port = 0;
    return takes_inputs_as_they_arrive() ? take_any(inputs_, next_port_, set_, first_port)
                                         : take_aligned(inputs_, set_, report_.discarded);
  }

  // The next call's inputs, moved into the context; false when they are not all here yet.
  bool take_inputs() {
    std::size_t first_port = 0;
    if (!take_set(first_port)) return false;
    report_.packets_in += set_.packets.size();
    if (stage().spec->is_sink()) record_arrival(set_.packets);
    sequence_ = set_.packets[0]->sequence;
    if (takes_inputs_as_they_arrive()) ctx_->clear_inputs();
    for (std::size_t i = 0; i < set_.packets.size(); ++i)
      ctx_->set_input(first_port + i, std::move(set_.packets[i]));
    return true;
  }

  void record_arrival(const std::vector<packet_ptr>& packets) {
    auto now = steady_now_ns();
    for (const auto& p : packets) {
      ++report_.sink_packets;
      report_.sink_bytes += p->payload_bytes();
      report_.latency.record(now - p->created_ns);
    }
  }

  // Takes what has arrived into the batch; true when the batch is to be called now: it is full,
  // no more sets can come, a stop was requested, or its first set has waited `timeout_ms`.
  // Otherwise a tick is due at that deadline.
  bool batch_ready() {
    std::size_t first_port = 0;
    while (!batch_->full() && take_set(first_port)) batch_->add(set_, first_port);
    if (batch_->empty()) return false;
    if (batch_->full() || no_more_sets() || ctx_->stop_requested()) return true;
    auto now = batch_collector::clock::now();
    if (now >= batch_->deadline()) return true;
    schedule_tick(std::chrono::ceil<std::chrono::microseconds>(batch_->deadline() - now));
    return false;
  }

  // A port of an aligning stage has ended, so no set can be completed again; a stage taking
  // inputs as they arrive gets more until every port has ended.
  bool no_more_sets() const {
    if (takes_inputs_as_they_arrive()) return all_exhausted(inputs_);
    return std::any_of(inputs_.begin(), inputs_.end(),
                       [](const input_port& p) { return p.exhausted(); });
  }

  // One call of process_batch for the collected sets; each set's outputs go out under its own
  // ticket, in set order.
  void run_batch() {
    const std::size_t items = batch_->size();
    ctx_->start_batch(items);
    for (std::size_t item = 0; item < items; ++item) {
      auto& packets = batch_->packets(item);
      report_.packets_in += packets.size();
      if (stage().spec->is_sink()) record_arrival(packets);
      for (std::size_t i = 0; i < packets.size(); ++i)
        ctx_->set_batch_input(item, batch_->first_port(item) + i, std::move(packets[i]));
    }
    batch_first_ = batch_sequence(0);
    batch_last_ = batch_sequence(items - 1);
    ++report_.batches;
    report_.batch_items += items;
    ++calls_;
    std::string failure;
    busy_.begin();
    try {
      for (std::size_t item = 0; item < items; ++item) move_inputs_to_device(item);
      instance_->process_batch(*ctx_);
      policy_->on_success();
    } catch (const std::exception& e) {
      failure = e.what();
    } catch (...) {
      failure = "unknown exception";
    }
    busy_.end();
    report_.discarded += ctx_->take_dropped();
    if (!failure.empty() || ctx_->emitted().empty())
      ctx_->emitted().clear();
    else
      send_batch_outputs();
    ctx_->end_batch();
    batch_->clear();
    if (!failure.empty()) on_failure(failure, items);
  }

  std::uint64_t batch_sequence(std::size_t item) const {
    for (std::size_t port = 0; port < stage().spec->inputs.size(); ++port)
      if (const auto& p = ctx_->input_at(port, item)) return p->sequence;
    return 0;
  }

  void run_process(std::uint64_t ticket, bool input_last) {
    auto& emitted = ctx_->emitted();
    ++calls_;
    busy_.begin();
    try {
      if (!stage().spec->is_source()) move_inputs_to_device(0);
      instance_->process(*ctx_);
      policy_->on_success();
    } catch (const std::exception& e) {
      emitted.clear();
      on_failure(e.what(), 1);
    } catch (...) {
      emitted.clear();
      on_failure("unknown exception", 1);
    }
    busy_.end();
    // The call is over with its inputs: let go of them now rather than when the next call's
    // replace them, so that a received frame goes back to the allocator while it is still warm
    // and the next one is received into the same memory.
    ctx_->clear_inputs();
    report_.discarded += ctx_->take_dropped();
    if (!emitted.empty()) send_outputs(ticket, input_last);
    // A blocking stage's next call may wait for its peer (a zmq_source for the next packet):
    // what this call emitted goes out now, and a consumer it woke on this thread runs now, not
    // after that wait.
    if (stage().spec->blocking) {
      for (auto& s : senders_) s.flush();
      run_woken_consumers();
    }
  }

  // Inputs arrive in their producers' memory; the stage sees them in its device's.
  void move_inputs_to_device(std::size_t item) {
    const auto& inputs = stage().spec->inputs;
    auto& device = *plan_->runs_on;
    for (std::size_t i = 0; i < inputs.size(); ++i) {
      const auto& p = ctx_->input_at(i, item);
      if (!p) continue;
      if (!moves_inputs_) {
        // The common case, one memory space end to end: only check that it is so.
        bool here = true;
        for (const auto& t : p->tensors) here = here && t.value.device() == device.memory_space();
        if (here) continue;
      }
      input_route route{stage().name, inputs[i].name, device, *plan_->devices,
                        plan_->inputs[i].transfer};
      ctx_->replace_input(i, move_to_device(p, route, report_.bytes_transferred[i]), item);
    }
  }

  void send_outputs(std::uint64_t ticket, bool input_last) {
    auto& emitted = ctx_->emitted();
    report_.packets_out += emitted.size();
    send_emitted(ticket, input_last, emitted);
    emitted.clear();
  }

  // A batch's outputs, grouped by item (in the order emitted within each) and sent item by item.
  void send_batch_outputs() {
    auto& emitted = ctx_->emitted();
    const auto& items = ctx_->emitted_items();
    report_.packets_out += emitted.size();
    order_.resize(emitted.size());
    std::iota(order_.begin(), order_.end(), std::size_t{0});
    std::stable_sort(order_.begin(), order_.end(),
                     [&](std::size_t a, std::size_t b) { return items[a] < items[b]; });
    for (std::size_t at = 0; at < order_.size();) {
      const auto item = items[order_[at]];
      item_outputs_.clear();
      for (; at < order_.size() && items[order_[at]] == item; ++at)
        item_outputs_.push_back(std::move(emitted[order_[at]]));
      send_emitted(batch_->ticket(item), batch_->last(item), item_outputs_);
    }
    item_outputs_.clear();
    emitted.clear();
  }

  using emitted_list = std::vector<std::pair<std::size_t, packet_ptr>>;

  // Every port's packets of one ticket onto its edges. The last of each port is marked `last`
  // if the input was the last of its ticket: a stage forwarding a lane's tickets may be called
  // several times for one ticket.
  void send_emitted(std::uint64_t ticket, bool input_last, emitted_list& emitted) {
    for (std::size_t port = 0; port < plan_->outputs.size(); ++port) {
      std::size_t count = 0;
      for (const auto& [p, packet] : emitted) count += p == port;
      if (count == 0) continue;
      std::size_t seen = 0;
      const auto& edges = plan_->outputs[port];
      for (auto& [p, packet] : emitted) {
        if (p != port) continue;
        bool last = ++seen == count && input_last;
        // Every edge but the last gets a reference; the last one takes this one.
        for (std::size_t e = 0; e + 1 < edges.size(); ++e) send_on_edge(edges[e], ticket, last, packet);
        if (!edges.empty()) send_on_edge(edges.back(), ticket, last, std::move(packet));
      }
    }
  }

  void send_on_edge(const replica_plan::out_edge& edge, std::uint64_t ticket, bool last,
                    packet_ptr packet) {
    if (edge.links.size() == 1) {
      senders_[edge.links[0]].offer({ticket, last, std::move(packet)});
      return;
    }
    // Dispatch to the consumer's replicas in turn; each packet is its own ticket.
    auto& counter = dispatch_counters_[edge.links[0]];
    auto t = counter++;
    senders_[edge.links[t % edge.links.size()]].offer({t, true, std::move(packet)});
  }

  // A failed call of `packets` input sets: each counts as a failed packet, and the failure
  // policy sees them one by one, so `restart.errors` counts packets whether batched or not;
  // one call restarts the stage at most once.
  void on_failure(const std::string& what, std::size_t packets) {
    const auto errors_before = report_.errors;
    report_.errors += packets;
    const auto& s = stage();
    std::string where;
    if (batch_)
      where = packets == 1 ? fmt::format(" on packet {}", batch_first_)
                           : fmt::format(" on a batch of {} packets ({} to {})", packets,
                                         batch_first_, batch_last_);
    else if (!stage().spec->is_source())
      where = fmt::format(" on packet {}", sequence_);
    if (errors_before < errors_logged_in_full || errors_before / 1000 != report_.errors / 1000)
      log(fmt::format("stage '{}' ({}){}{}: {}{}", s.name, s.type, replica_suffix(), where, what,
                      report_.errors > errors_logged_in_full
                          ? fmt::format(" ({} errors so far)", report_.errors)
                          : ""));
    auto action = failure_policy::action::carry_on;
    for (std::size_t i = 0; i < packets && action == failure_policy::action::carry_on; ++i)
      action = policy_->on_failure();
    switch (action) {
      case failure_policy::action::carry_on:
        break;
      case failure_policy::action::restart:
        restart();
        break;
      case failure_policy::action::fail:
        fail(s.on_error == error_policy::fail
                 ? fmt::format("stage '{}' ({}) failed and on_error = \"fail\": {}", s.name, s.type, what)
                 : fmt::format("stage '{}' ({}) keeps failing: restarted {} times within {} s, "
                               "giving up; last error: {}",
                               s.name, s.type, policy_->restarts(), s.restart.within_s, what));
        break;
    }
  }

  void restart() {
    ++report_.restarts;
    log(fmt::format("stage '{}' ({}){}: {} errors in a row, restarting it (restart {} of at most {} "
                    "within {} s)",
                    stage().name, stage().type, replica_suffix(), stage().restart.errors,
                    policy_->restarts(), stage().restart.max, stage().restart.within_s));
    try {
      instance_->close(*ctx_);
    } catch (const std::exception& e) {
      log(fmt::format("stage '{}': close before restart failed: {}", stage().name, e.what()));
    }
    try {
      instance_ = stage().spec->make();
      instance_->open(*ctx_);
    } catch (const std::exception& e) {
      fail(fmt::format("stage '{}' ({}) could not be reopened after failures: {}", stage().name,
                       stage().type, e.what()));
    }
  }

  void close_stage() {
    closed_ = true;
    try {
      instance_->close(*ctx_);
      if (!ctx_->emitted().empty()) send_outputs(0, true);
    } catch (const std::exception& e) {
      ++report_.errors;
      log(fmt::format("stage '{}' ({}){}: close failed: {}", stage().name, stage().type,
                      replica_suffix(), e.what()));
    }
    for (auto& s : senders_) s.close();
  }

  void maybe_done() {
    if (!closed_ || done_ || failed_) return;
    for (const auto& s : senders_)
      if (!s.flushed()) return;
    done_ = true;
    send(plan_->coordinator, done_msg{final_report()});
    quit();
  }

  std::shared_ptr<replica_report> final_report() const {
    auto report = std::make_shared<replica_report>(report_);
    report->busy_ns = busy_.total_ns();
    if (ctx_)
      for (const auto& [name, values] : ctx_->counters()) report->counters.emplace(name, values);
    for (std::size_t i = 0; i < senders_.size(); ++i)
      report->links.push_back({plan_->links[i].edge, senders_[i].sent(), senders_[i].dropped()});
    return report;
  }

  void fail(std::string message) {
    failed_ = true;
    send(plan_->coordinator, failed_msg{stage().name, std::move(message)});
  }

  void schedule_tick(std::chrono::microseconds delay) {
    if (tick_pending_) return;
    tick_pending_ = true;
    if (delay.count() == 0)
      send(this, tick_msg{});
    else
      delayed_send(this, delay, tick_msg{});
  }

  std::string replica_suffix() const {
    return stage().replicas > 1 ? fmt::format(" replica {}", plan_->replica) : std::string();
  }

  void log(const std::string& line) const { plan_->log(line); }

  std::shared_ptr<const replica_plan> plan_;
  std::optional<stage_context> ctx_;
  std::unique_ptr<loom::stage> instance_;
  std::optional<failure_policy> policy_;
  std::vector<input_port> inputs_;
  std::vector<link_sender> senders_;
  // For links whose consumer runs on this thread when a packet finds it idle.
  std::optional<same_thread_delivery> delivery_;
  std::vector<std::uint64_t> dispatch_counters_;
  input_set set_;
  std::uint64_t sequence_ = 0;  // of the input set being processed, for error messages
  std::optional<batch_collector> batch_;  // for a stage with `batch`
  std::uint64_t batch_first_ = 0, batch_last_ = 0;  // sequences of the batch being processed
  std::vector<std::size_t> order_;                  // of a batch's outputs, by item
  std::vector<std::pair<std::size_t, packet_ptr>> item_outputs_;  // one item's, while sent
  std::size_t next_port_ = 0;   // where inputs taken as they arrive are looked for first
  busy_timer busy_;
  replica_report report_;
  bool closed_ = false;
  bool done_ = false;
  bool failed_ = false;
  bool tick_pending_ = false;
  bool moves_inputs_ = false;  // some input port has a planned transfer
  std::uint64_t calls_ = 0;    // of `process`
};

}  // namespace

caf::actor spawn_stage_actor(caf::actor_system& system, bool detached) {
  return detached ? system.spawn<stage_actor, caf::detached>() : system.spawn<stage_actor>();
}

}  // namespace loom
