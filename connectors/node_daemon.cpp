#include "connectors/node_daemon.hpp"

#include <zmq.h>

#include <cstdio>
#include <memory>
#include <optional>
#include <stdexcept>

#include <fmt/format.h>

#include "connectors/control_channel.hpp"
#include "connectors/graph_parts.hpp"
#include "connectors/network.hpp"
#include "connectors/running_part.hpp"
#include "graphs/load.hpp"

namespace loom {
namespace {

using clock = std::chrono::steady_clock;
constexpr auto heartbeat_every = std::chrono::milliseconds(500);

class node_daemon {
 public:
  explicit node_daemon(const node_options& options) : options_(options) {
    log_ = options.log ? options.log : [](const std::string& line) {
      std::fprintf(stderr, "%s\n", line.c_str());
    };
    check_security(options.secured);
    context_ = zmq_ctx_new();
    zap_ = start_zap_handler(context_, options.secured, [this](const std::string& line) { say(line); });
    listener_ = zmq_socket(context_, ZMQ_ROUTER);
    control::configure_control_socket(listener_, true);
    configure_server(listener_, options.secured, zap_.get());
    if (zmq_bind(listener_, options.listen.c_str()) != 0) {
      auto why = std::string(zmq_strerror(zmq_errno()));
      close();
      throw std::runtime_error(fmt::format(
          "loom node: cannot listen on '{}': {} (give an endpoint such as tcp://*:7000 whose "
          "port is free)",
          options.listen, why));
    }
  }

  ~node_daemon() { close(); }

  int serve() {
    say(fmt::format("loom node {} listening on {}", LOOM_VERSION, options_.listen));
    while (!stopped()) {
      control::wait_readable(&listener_, 1, 100);
      take_messages();
      tend_part();
      if (options_.once && served_ > 0 && !part_) break;
    }
    if (part_) {
      say("stopping: the running part is aborted");
      part_->abort();
      finish_part();
    }
    return last_failed_ ? 1 : 0;
  }

 private:
  bool stopped() const {
    return options_.stop_requests != nullptr && options_.stop_requests->load() > 0;
  }

  void say(const std::string& line) {
    log_(fmt::format("{}loom node{}: {}", security_banner(),
                     node_name_.empty() ? "" : " " + node_name_, line));
  }

  void take_messages() {
    for (;;) {
      std::string from;
      std::optional<control::envelope> in;
      try {
        in = control::receive(listener_, true, "a coordinator", &from);
      } catch (const wire::wire_error& e) {
        say(fmt::format("refused a message: {}", e.what()));
        if (!from.empty()) control::send(listener_, wire::peer_error{e.what()}, from);
        continue;
      }
      if (!in) return;
      if (in->routing_id == coordinator_) last_heard_ = clock::now();
      std::visit([&](auto& m) { handle(in->routing_id, m); }, in->body);
    }
  }

  void refuse(const std::string& to, const std::string& why) {
    say(why);
    control::send(listener_, wire::peer_error{why}, to);
  }

  void handle(const std::string& from, const wire::hello& theirs) {
    if (!coordinator_.empty() && from != coordinator_) {
      refuse(from, fmt::format("node '{}' is busy with another deployment of graph {}; wait "
                               "for it to end or stop it",
                               node_name_, expected_hash_.substr(0, 12)));
      return;
    }
    wire::hello ours{LOOM_VERSION, wire::wire_protocol_version, "", theirs.node_name,
                     host_boot_id()};
    if (theirs.loom_version != ours.loom_version) {
      refuse(from, fmt::format("the coordinator runs loom {}, node '{}' runs loom {}; run the "
                               "same loom release on every node",
                               theirs.loom_version, theirs.node_name, ours.loom_version));
      return;
    }
    if (auto why = wire::refuse_reason(ours, theirs)) {
      refuse(from, *why);
      return;
    }
    coordinator_ = from;
    expected_hash_ = theirs.graph_hash;
    node_name_ = theirs.node_name;
    last_heard_ = clock::now();
    ours.graph_hash = theirs.graph_hash;
    control::send(listener_, ours, from);
  }

  void handle(const std::string& from, const control::deploy& d) {
    if (from != coordinator_ || part_) {
      refuse(from, "a deploy without a hello first, or while a part runs; is this a loom "
                   "coordinator of the same release?");
      return;
    }
    auto hash = control::deployment_hash(d.graph_text, d.overrides);
    if (hash != expected_hash_) {
      refuse(from, fmt::format("the graph deployed to node '{}' does not match the hash the "
                               "coordinator announced ({} vs {})",
                               d.node, hash.substr(0, 12), expected_hash_.substr(0, 12)));
      return end_deployment();
    }
    auto registry = stage_registry::with_builtins();
    auto loaded = load_graph_text(d.graph_text, d.graph_path, d.overrides, registry, d.node);
    if (!loaded.graph) {
      std::string lines;
      for (const auto& e : loaded.errors) lines += (lines.empty() ? "" : "\n") + format(e);
      refuse(from, fmt::format("node '{}' cannot load the graph:\n{}", d.node, lines));
      return end_deployment();
    }
    auto& graph = *loaded.graph;
    graph.sha256 = hash;
    graph_def part;
    try {
      part = part_of(graph, split_graph(graph), d.node, registry, d.public_keys);
      configure_network({options_.secured, d.node, hash});
    } catch (const std::exception& e) {
      refuse(from, fmt::format("node '{}' cannot run its part: {}", d.node, e.what()));
      return end_deployment();
    }
    say(fmt::format("deployed graph '{}' ({}): stages {}", graph.name, hash.substr(0, 12),
                    stages_on(graph, d.node)));
    registry_ = std::make_unique<stage_registry>(std::move(registry));
    part_ = std::make_unique<running_part>(std::move(part),
                                           [this](const std::string& line) { say(line); });
    ++served_;
  }

  void handle(const std::string& from, const control::start&) {
    if (from == coordinator_ && part_) part_->start();
  }

  void handle(const std::string& from, const control::stop& s) {
    if (from != coordinator_) return;
    if (part_) {
      part_->stop(s.abort);
    } else {
      end_deployment();
    }
  }

  void handle(const std::string&, const wire::heartbeat&) {}

  void handle(const std::string& from, const wire::peer_error& e) {
    if (from != coordinator_) return;
    say(fmt::format("the coordinator gave up: {}", e.message));
    if (part_) part_->abort();
  }

  // Messages only a node sends.
  template <class M>
  void handle(const std::string& from, const M&) {
    refuse(from, "a message only nodes send; is the peer a loom coordinator?");
  }

  void tend_part() {
    if (coordinator_.empty()) return;
    auto now = clock::now();
    if (now - last_heard_ > options_.silence) {
      say(fmt::format("the coordinator has been silent for {:.1f} s: it died or was cut off; "
                      "the part is aborted",
                      std::chrono::duration<double>(now - last_heard_).count()));
      if (part_) {
        part_->abort();
        finish_part();
      }
      return end_deployment();
    }
    if (now - last_sent_ >= heartbeat_every) {
      control::send(listener_, wire::heartbeat{now.time_since_epoch().count()}, coordinator_);
      last_sent_ = now;
    }
    if (!part_) return;
    if (!ready_sent_ && part_->ready()) {
      control::send(listener_, control::ready{}, coordinator_);
      ready_sent_ = true;
    }
    if (auto result = part_->take_result()) {
      last_failed_ = result->status == run_result::outcome::failed;
      say(fmt::format("part finished: {}", last_failed_ ? "failed" : "completed"));
      control::send(listener_, control::finished{std::move(*result)}, coordinator_);
      part_.reset();
      end_deployment();
    }
  }

  void finish_part() {
    part_.reset();  // joins its thread
    last_failed_ = true;
  }

  void end_deployment() {
    coordinator_.clear();
    expected_hash_.clear();
    ready_sent_ = false;
  }

  void close() {
    if (listener_ != nullptr) zmq_close(listener_);
    listener_ = nullptr;
    zap_.reset();
    if (context_ != nullptr) zmq_ctx_term(context_);
    context_ = nullptr;
  }

  const node_options& options_;
  std::function<void(const std::string&)> log_;
  void* context_ = nullptr;
  std::unique_ptr<zap_handler> zap_;
  void* listener_ = nullptr;
  std::string coordinator_;  // routing id of the coordinator deploying here; "" when idle
  std::string expected_hash_;
  std::string node_name_;
  clock::time_point last_heard_, last_sent_;
  std::unique_ptr<stage_registry> registry_;  // the specs of the part's stages
  std::unique_ptr<running_part> part_;       // declared after: destroyed first
  bool ready_sent_ = false;
  bool last_failed_ = false;
  int served_ = 0;
};

}  // namespace

int serve_node(const node_options& options) { return node_daemon(options).serve(); }

}  // namespace loom
