#include "actors/runtime.hpp"
#include "actors/scheduler_config.hpp"

#include <chrono>
#include <cstdio>
#include <map>
#include <mutex>

#include <fmt/format.h>

#include "actors/cost_per_output.hpp"
#include "actors/messages.hpp"
#include "actors/stage_actor.hpp"

namespace loom {
namespace {

using clock = std::chrono::steady_clock;

std::function<void(const std::string&)> serialized(std::function<void(const std::string&)> log) {
  auto mutex = std::make_shared<std::mutex>();
  if (!log) log = [](const std::string& line) { std::fprintf(stderr, "loom: %s\n", line.c_str()); };
  return [mutex, log = std::move(log)](const std::string& line) {
    std::lock_guard lock(*mutex);
    log(line);
  };
}

// One actor per replica, and the links between them. A link joins one producer replica to one
// consumer replica; which pairs are joined depends on the replica counts of the two stages:
//   1 -> 1: one link;   1 -> M: one link per consumer replica, packets dispatched in turn;
//   N -> 1: one link per producer replica, merged back into order by the consumer;
//   N -> N: replica i feeds replica i (lanes), order restored wherever they merge.
class topology {
 public:
  topology(caf::actor_system& system, const graph_def& graph, const device_set& devices,
           caf::actor coordinator, const std::function<void(const std::string&)>& log)
      : graph_(graph) {
    for (const auto& s : graph.stages) {
      const auto& declared = graph.device_of(s);
      const bool own_thread = runs_on_own_thread(graph, s);
      auto& replicas = actors_[s.name];
      auto& plans = plans_[s.name];
      for (int r = 0; r < s.replicas; ++r) {
        replicas.push_back(spawn_stage_actor(system, own_thread));
        auto plan = std::make_shared<replica_plan>();
        plan->stage = &s;
        plan->device = &declared;
        plan->runs_on = &devices.at(s.device);
        plan->devices = &devices;
        plan->replica = r;
        plan->run = {graph.name, graph.file, graph.sha256, LOOM_VERSION};
        plan->coordinator = coordinator;
        plan->log = log;
        plan->inputs.resize(s.inputs.size());
        plan->outputs.resize(s.spec->outputs.size());
        plan->live_in = std::make_shared<std::atomic<std::uint64_t>>(0);
        plan->live_out = std::make_shared<std::atomic<std::uint64_t>>(0);
        plan->abandoned = abandoned_;
        plans.push_back(plan);
      }
    }
    for (const auto& s : graph.stages)
      for (std::size_t port = 0; port < s.inputs.size(); ++port) wire(s, port);
  }

  const std::map<std::string, std::vector<caf::actor>>& actors() const { return actors_; }
  void abandon() { abandoned_->store(true, std::memory_order_relaxed); }
  const std::map<std::string, std::vector<std::shared_ptr<replica_plan>>>& plans() const {
    return plans_;
  }

 private:
  void wire(const stage_def& consumer, std::size_t port) {
    const auto& edge = consumer.inputs[port];
    const auto& producer = *graph_.find(edge.from_stage);
    auto out_port = *producer.spec->output_index(edge.from_port);
    int n = producer.replicas, m = consumer.replicas;
    for (int r = 0; r < m; ++r) {
      plans_[consumer.name][r]->inputs[port].capacity = edge.capacity;
      plans_[consumer.name][r]->inputs[port].transfer = edge.transfer;
    }
    if (n == 1) {
      replica_plan::out_edge fan;
      for (int r = 0; r < m; ++r) fan.links.push_back(link(producer, 0, consumer, r, port, edge));
      plans_[producer.name][0]->outputs[out_port].push_back(std::move(fan));
    } else if (m == 1) {
      for (int i = 0; i < n; ++i)
        plans_[producer.name][i]->outputs[out_port].push_back(
            {{link(producer, i, consumer, 0, port, edge)}});
    } else {
      for (int i = 0; i < n; ++i)
        plans_[producer.name][i]->outputs[out_port].push_back(
            {{link(producer, i, consumer, i, port, edge)}});
    }
  }

  std::uint32_t link(const stage_def& producer, int from, const stage_def& consumer, int to,
                     std::size_t port, const edge_def& edge) {
    auto& out = *plans_[producer.name][from];
    auto& in = plans_[consumer.name][to]->inputs[port];
    auto index = static_cast<std::uint32_t>(out.links.size());
    auto lane = static_cast<std::uint32_t>(in.lanes.size());
    out.links.push_back({actors_[consumer.name][to], static_cast<std::uint32_t>(port), lane,
                         edge.capacity, edge.policy, edge_label(edge),
                         consumer_on_producer_thread(graph_, producer) == &consumer});
    in.lanes.push_back({actors_[producer.name][from], index});
    return index;
  }

  const graph_def& graph_;
  std::shared_ptr<std::atomic<bool>> abandoned_ = std::make_shared<std::atomic<bool>>(false);
  std::map<std::string, std::vector<caf::actor>> actors_;
  std::map<std::string, std::vector<std::shared_ptr<replica_plan>>> plans_;
};

run_stats summarize(const graph_def& graph, const std::vector<std::shared_ptr<replica_report>>& reports,
                    double seconds) {
  run_stats stats;
  stats.graph = graph.name;
  stats.seconds = seconds;
  std::map<std::string, cpu_set_record> cpus;
  std::map<std::string, latency_histogram> latencies;
  std::map<std::string, std::uint64_t> batch_items;
  for (const auto& s : graph.stages) {
    auto& st = stats.stages[s.name];
    st.type = s.type;
    st.device = s.device;
    st.replicas = s.replicas;
    if (s.batch) st.batches = 0;
    for (const auto& e : s.inputs) {
      auto& es = stats.edges[edge_label(e)];
      es.policy = std::string(name_of(e.policy));
      es.capacity = e.capacity;
    }
    if (s.spec->is_sink()) stats.sinks[s.name];
  }
  for (const auto& r : reports) {
    auto& st = stats.stages[r->stage];
    st.packets_in += r->packets_in;
    st.packets_out += r->packets_out;
    st.errors += r->errors;
    st.restarts += r->restarts;
    st.dropped += r->discarded;
    st.busy_seconds += static_cast<double>(r->busy_ns) / 1e9;
    cpus[r->stage].merge(r->cpus);
    if (st.batches) {
      *st.batches += r->batches;
      batch_items[r->stage] += r->batch_items;
    }
    for (const auto& [name, values] : r->counters) {
      auto& sum = st.counters[name];
      if (sum.size() < values.size()) sum.resize(values.size());
      for (std::size_t i = 0; i < values.size(); ++i) sum[i] += values[i];
    }
    if (auto sink = stats.sinks.find(r->stage); sink != stats.sinks.end()) {
      sink->second.packets += r->sink_packets;
      sink->second.bytes += r->sink_bytes;
      latencies[r->stage].merge(r->latency);
    }
    for (const auto& l : r->links) {
      auto& es = stats.edges[l.edge];
      es.sent += l.sent;
      es.dropped += l.dropped;
    }
    const auto& inputs = graph.find(r->stage)->inputs;
    for (std::size_t port = 0; port < r->bytes_transferred.size(); ++port) {
      stats.edges[edge_label(inputs.at(port))].bytes_transferred += r->bytes_transferred[port];
      stats.bytes_copied += r->bytes_transferred[port];
    }
  }
  for (const auto& s : graph.stages)
    for (const auto& e : s.inputs) stats.stages[s.name].dropped += stats.edges[edge_label(e)].dropped;
  for (auto& [name, st] : stats.stages) {
    st.cpus = cpus[name].cpus();
    if (st.batches && *st.batches > 0)
      st.batch_mean = static_cast<double>(batch_items[name]) / static_cast<double>(*st.batches);
  }
  for (auto& [name, sink] : stats.sinks) {
    sink.latency_p50_us = latencies[name].percentile_us(0.50);
    sink.latency_p99_us = latencies[name].percentile_us(0.99);
  }
  add_costs(graph, stats);
  stats.peak_rss_bytes = peak_rss_bytes();
  return stats;
}

// Drives one run from the calling thread: opens every replica, starts the sources, forwards
// stop requests, and gathers what each replica reports.
class coordinator {
 public:
  coordinator(const graph_def& graph, const device_set& devices, const run_options& options)
      : graph_(graph), options_(options), log_(serialized(options.log)), self_(system_),
        topo_(system_, graph, devices, caf::actor{self_}, log_) {
    for (const auto& [name, replicas] : topo_.actors())
      for (const auto& a : replicas) {
        self_->monitor(a);
        alive_.emplace(a.address(), name);
      }
  }

  run_result run() {
    if (open_all() && may_start()) {
      start_sources();
      until_finished();
    }
    if (!alive_.empty()) stop_the_rest();
    result_.stats = summarize(graph_, reports_, seconds());
    return std::move(result_);
  }

 private:
  // Every replica opens before any source starts, so a stage that cannot start stops the run
  // before data moves.
  bool open_all() {
    for (const auto& [name, plans] : topo_.plans())
      for (std::size_t r = 0; r < plans.size(); ++r)
        self_->send(topo_.actors().at(name)[r], init_msg{plans[r]});
    std::size_t opened = 0;
    while (opened < alive_.size() && !ending_) {
      self_->receive(
          [&](opened_msg& m) {
            ++opened;
            if (!m.error.empty())
              fail(fmt::format("stage '{}' ({}) failed to open: {}", m.stage,
                               graph_.find(m.stage)->type, m.error));
          },
          [&](caf::down_msg& d) { on_down(d); },
          caf::after(std::chrono::milliseconds(100)) >> [&] { check_stop_requests(); });
    }
    return !ending_;
  }

  bool may_start() {
    if (!options_.before_start || options_.before_start()) return true;
    fail("the run was called off before it started");
    return false;
  }

  void start_sources() {
    for (const auto& s : graph_.stages)
      if (s.spec->is_source())
        for (const auto& a : topo_.actors().at(s.name)) self_->send(a, start_msg{});
  }

  void until_finished() {
    auto last_progress = clock::now();
    while (!alive_.empty() && !ending_) {
      self_->receive(
          [&](done_msg& m) { reports_.push_back(std::move(m.report)); },
          [&](failed_msg& m) { fail(std::move(m.message)); },
          [&](caf::down_msg& d) { on_down(d); },
          caf::after(std::chrono::milliseconds(50)) >> [] {});
      check_stop_requests();
      if (options_.progress && clock::now() - last_progress >= std::chrono::seconds(1)) {
        last_progress = clock::now();
        report_progress();
      }
    }
  }

  // The run is over early (failure, second interrupt): ask every replica still running for
  // what it has counted, so the stats show where things went wrong, then stop them all.
  void stop_the_rest() {
    topo_.abandon();
    for (const auto& [name, replicas] : topo_.actors())
      for (const auto& a : replicas)
        if (alive_.count(a.address())) self_->send(a, snapshot_msg{});
    auto deadline = clock::now() + std::chrono::seconds(2);
    std::size_t waiting = alive_.size();
    while (waiting > 0 && clock::now() < deadline) {
      self_->receive(
          [&](done_msg& m) {
            reports_.push_back(std::move(m.report));
            --waiting;
          },
          [&](failed_msg&) {},
          [&](caf::down_msg& d) {
            if (alive_.erase(d.source)) --waiting;
          },
          caf::after(std::chrono::milliseconds(50)) >> [] {});
    }
    for (const auto& [name, replicas] : topo_.actors())
      for (const auto& a : replicas) self_->send_exit(a, caf::exit_reason::user_shutdown);
  }

  void on_down(const caf::down_msg& d) {
    auto it = alive_.find(d.source);
    if (it == alive_.end()) return;
    auto name = it->second;
    alive_.erase(it);
    if (d.reason)
      fail(fmt::format("stage '{}' stopped unexpectedly: {}", name, system_.render(d.reason)));
  }

  void fail(std::string why) {
    ending_ = true;
    if (result_.status != run_result::outcome::interrupted)
      result_.status = run_result::outcome::failed;
    result_.failures.push_back(std::move(why));
  }

  void check_stop_requests() {
    int stops = options_.stop_requests ? options_.stop_requests->load(std::memory_order_relaxed) : 0;
    if (stops == 0 || stops == stops_seen_) return;
    stops_seen_ = stops;
    result_.status = run_result::outcome::interrupted;
    if (stops >= 2) {
      result_.failures.push_back("stopped by a second interrupt before the pipeline drained");
      ending_ = true;
      return;
    }
    log_("stopping: sources end now, the pipeline drains (interrupt again to abort)");
    for (const auto& s : graph_.stages)
      if (s.spec->is_source())
        for (const auto& a : topo_.actors().at(s.name)) self_->send(a, stop_msg{});
  }

  void report_progress() {
    std::vector<stage_progress> progress;
    for (const auto& [name, plans] : topo_.plans()) {
      stage_progress p{name, 0, 0};
      for (const auto& plan : plans) {
        p.packets_in += plan->live_in->load(std::memory_order_relaxed);
        p.packets_out += plan->live_out->load(std::memory_order_relaxed);
      }
      progress.push_back(p);
    }
    options_.progress(seconds(), progress);
  }

  double seconds() const { return std::chrono::duration<double>(clock::now() - started_).count(); }

  const graph_def& graph_;
  const run_options& options_;
  std::function<void(const std::string&)> log_;
  clock::time_point started_ = clock::now();
  caf::actor_system_config config_;
  caf::actor_system system_{tune_scheduler(config_, graph_)};
  caf::scoped_actor self_;
  topology topo_;
  std::map<caf::actor_addr, std::string> alive_;  // replicas that have not finished
  std::vector<std::shared_ptr<replica_report>> reports_;
  run_result result_;
  bool ending_ = false;
  int stops_seen_ = 0;
};

}  // namespace

run_result run_graph(const graph_def& graph, const run_options& options) {
  std::unique_ptr<device_set> devices;
  try {
    devices = std::make_unique<device_set>(graph);
  } catch (const std::exception& e) {
    run_result failed;
    failed.status = run_result::outcome::failed;
    failed.failures.push_back(e.what());
    failed.stats = summarize(graph, {}, 0);
    return failed;
  }
  // The devices outlive the coordinator, its actors and every tensor they held.
  return coordinator(graph, *devices, options).run();
}

}  // namespace loom
