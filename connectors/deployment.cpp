#include "connectors/deployment.hpp"

#include <zmq.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <optional>
#include <stdexcept>
#include <thread>

#include <fmt/format.h>

#include "connectors/control_channel.hpp"
#include "connectors/curve_keys.hpp"
#include "connectors/deployment_stats.hpp"
#include "connectors/graph_parts.hpp"
#include "connectors/network.hpp"
#include "connectors/running_part.hpp"

namespace loom {
namespace {

using clock = std::chrono::steady_clock;
constexpr auto heartbeat_every = std::chrono::milliseconds(500);

double seconds_between(clock::time_point a, clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

struct remote_node {
  enum class state { greeting, greeted, deployed, ready, started, finished, lost };
  std::string name;
  std::string address;
  void* socket = nullptr;
  state at = state::greeting;
  clock::time_point last_heard = clock::now();
  clock::time_point last_sent = clock::now();
  std::optional<run_result> result;

  bool alive() const { return at != state::finished && at != state::lost; }
};

class coordinator_run {
 public:
  coordinator_run(const graph_def& graph, const stage_registry& registry,
                  const deployment_options& options)
      : graph_(graph), registry_(registry), options_(options), split_(split_graph(graph)),
        hash_(control::deployment_hash(options.graph_text, options.overrides)) {
    auto log = options.run.log;
    log_ = log ? log : [](const std::string& line) {
      std::fprintf(stderr, "%sloom: %s\n", std::string(security_banner()).c_str(), line.c_str());
    };
  }

  ~coordinator_run() {
    local_.reset();
    for (auto& r : remotes_) zmq_close(r.socket);
    if (context_ != nullptr) zmq_ctx_term(context_);
  }

  run_result run() {
    configure_network({options_.secured, "", hash_});
    context_ = zmq_ctx_new();
    for (const auto& name : split_.nodes)
      if (!name.empty()) connect(name);
    if (greet() && deploy() && start()) until_finished();
    if (failed_) wind_down();
    return result();
  }

 private:
  void say(const std::string& line) { log_(line); }

  void connect(const std::string& name) {
    const auto& node = graph_.nodes.at(name);
    remote_node r;
    r.name = name;
    r.address = node.address;
    r.socket = zmq_socket(context_, ZMQ_DEALER);
    control::configure_control_socket(r.socket, false);
    if (!options_.secured.is_insecure()) {
      auto key = options_.public_keys.find(name);
      if (key == options_.public_keys.end())
        throw std::runtime_error(fmt::format(
            "no public key for node '{}': put its {}.pub (from `loom keygen {}` on that machine) "
            "in the --allow folder",
            name, name, name));
      configure_client(r.socket, options_.secured, key->second);
    }
    if (zmq_connect(r.socket, node.address.c_str()) != 0)
      throw std::runtime_error(fmt::format("node '{}': cannot connect to '{}': {}", name,
                                           node.address, zmq_strerror(zmq_errno())));
    control::send(r.socket, wire::hello{LOOM_VERSION, wire::wire_protocol_version, hash_, name, host_boot_id()});
    remotes_.push_back(std::move(r));
  }

  bool greet() {
    auto deadline = clock::now() + options_.connect_timeout;
    while (!failed_ && !all(remote_node::state::greeted)) {
      pump();
      if (clock::now() > deadline) {
        for (auto& r : remotes_)
          if (r.at == remote_node::state::greeting) {
            r.at = remote_node::state::lost;
            fail(fmt::format(
                "node '{}' at {} did not answer within {:.0f} s: is `loom node --listen "
                "tcp://*:{}` running there and reachable{}?",
                r.name, r.address, std::chrono::duration<double>(options_.connect_timeout).count(),
                graph_.nodes.at(r.name).port,
                options_.secured.is_insecure()
                    ? " (and started with --insecure too)"
                    : ", and does its --allow folder hold this coordinator's public key"));
          }
      }
    }
    return !failed_;
  }

  bool deploy() {
    for (auto& r : remotes_) {
      control::send(r.socket, control::deploy{r.name, options_.graph_text, options_.graph_path,
                                              options_.overrides, options_.public_keys});
      r.at = remote_node::state::deployed;
    }
    if (std::find(split_.nodes.begin(), split_.nodes.end(), "") != split_.nodes.end())
      local_ = std::make_unique<running_part>(
          part_of(graph_, split_, "", registry_, options_.public_keys), log_);
    while (!failed_ && !(all(remote_node::state::ready) && (!local_ || local_->ready()))) {
      pump();
      check_local();
    }
    return !failed_;
  }

  bool start() {
    say(fmt::format("every node is ready; starting graph '{}' on {}", graph_.name,
                    describe_nodes()));
    for (auto& r : remotes_) {
      control::send(r.socket, control::start{});
      r.at = remote_node::state::started;
    }
    if (local_) local_->start();
    started_ = clock::now();
    return true;
  }

  void until_finished() {
    while (!failed_ && (any_alive() || (local_ && !local_result_))) {
      pump();
      check_local();
      forward_stop_requests();
    }
  }

  // After a failure: abort every part still running, and give each the silence bound to report.
  void wind_down() {
    for (auto& r : remotes_)
      if (r.alive()) control::send(r.socket, control::stop{true});
    if (local_) local_->abort();
    auto deadline = clock::now() + options_.silence + std::chrono::seconds(2);
    while ((any_alive() || (local_ && !local_result_)) && clock::now() < deadline) {
      pump();
      check_local();
    }
    for (auto& r : remotes_)
      if (r.alive()) r.at = remote_node::state::lost;
    if (local_ && !local_result_) {
      local_.reset();  // waits for the aborted part
    }
  }

  // One round: heartbeats out, messages in, silence checked.
  void pump() {
    std::vector<void*> sockets;
    for (auto& r : remotes_)
      if (r.alive()) sockets.push_back(r.socket);
    if (sockets.empty()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    } else {
      control::wait_readable(sockets.data(), sockets.size(), 50);
    }
    auto now = clock::now();
    for (auto& r : remotes_) {
      if (!r.alive()) continue;
      take_messages(r);
      if (r.at == remote_node::state::greeting || !r.alive()) continue;
      if (now - r.last_sent >= heartbeat_every) {
        control::send(r.socket, wire::heartbeat{now.time_since_epoch().count()});
        r.last_sent = now;
      }
      if (now - r.last_heard > options_.silence) {
        r.at = remote_node::state::lost;
        fail(fmt::format("node '{}' ({}) has not been heard from for {:.1f} s: it died or was "
                         "cut off; its stages {} are lost",
                         r.name, r.address, seconds_between(r.last_heard, now),
                         stages_on(graph_, r.name)));
      }
    }
  }

  void take_messages(remote_node& r) {
    for (;;) {
      std::optional<control::envelope> in;
      try {
        in = control::receive(r.socket, false, fmt::format("node '{}' ({})", r.name, r.address));
      } catch (const wire::wire_error& e) {
        r.at = remote_node::state::lost;
        fail(e.what());
        return;
      }
      if (!in) return;
      r.last_heard = clock::now();
      std::visit([&](auto& m) { handle(r, m); }, in->body);
      if (!r.alive()) return;
    }
  }

  void handle(remote_node& r, const wire::hello& theirs) {
    if (theirs.loom_version != LOOM_VERSION || theirs.graph_hash != hash_) {
      r.at = remote_node::state::lost;
      fail(fmt::format("node '{}' ({}) answered as loom {} with graph {}; this coordinator runs "
                       "loom {} with graph {}",
                       r.name, r.address, theirs.loom_version, theirs.graph_hash.substr(0, 12),
                       LOOM_VERSION, hash_.substr(0, 12)));
      return;
    }
    if (r.at == remote_node::state::greeting) r.at = remote_node::state::greeted;
  }

  void handle(remote_node& r, const control::ready&) {
    if (r.at == remote_node::state::deployed) r.at = remote_node::state::ready;
  }

  void handle(remote_node& r, const control::finished& f) {
    r.at = remote_node::state::finished;
    r.result = f.result;
    for (const auto& why : f.result.failures) fail(fmt::format("node '{}': {}", r.name, why));
    if (f.result.status == run_result::outcome::failed && f.result.failures.empty())
      fail(fmt::format("node '{}': its part failed", r.name));
    if (f.result.status == run_result::outcome::interrupted) interrupted_ = true;
  }

  void handle(remote_node& r, const wire::peer_error& e) {
    r.at = remote_node::state::lost;
    fail(fmt::format("node '{}' ({}): {}", r.name, r.address, e.message));
  }

  void handle(remote_node&, const wire::heartbeat&) {}

  // Messages only a coordinator sends.
  template <class M>
  void handle(remote_node& r, const M&) {
    r.at = remote_node::state::lost;
    fail(fmt::format("node '{}' ({}) sent a coordinator's message; is it a loom node?", r.name,
                     r.address));
  }

  void check_local() {
    if (!local_ || local_result_) return;
    if (auto result = local_->take_result()) {
      local_result_ = std::move(result);
      for (const auto& why : local_result_->failures) fail(why);
      if (local_result_->status == run_result::outcome::interrupted) interrupted_ = true;
    }
  }

  void forward_stop_requests() {
    const auto* stops = options_.run.stop_requests;
    int seen = stops != nullptr ? stops->load() : 0;
    if (seen == 0 || seen == stops_forwarded_) return;
    stops_forwarded_ = seen;
    interrupted_ = true;
    bool abort = seen >= 2;
    say(abort ? "aborting every node" : "stopping: every node's sources end, the pipeline drains");
    for (auto& r : remotes_)
      if (r.alive()) control::send(r.socket, control::stop{abort});
    if (local_) local_->stop(abort);
  }

  void fail(std::string why) {
    failed_ = true;
    failures_.push_back(std::move(why));
  }

  bool all(remote_node::state at) const {
    return std::all_of(remotes_.begin(), remotes_.end(),
                       [&](const remote_node& r) { return r.at >= at && r.alive(); });
  }
  bool any_alive() const {
    return std::any_of(remotes_.begin(), remotes_.end(),
                       [](const remote_node& r) { return r.alive(); });
  }

  std::string describe_nodes() const {
    std::vector<std::string> names;
    if (local_) names.push_back("this process");
    for (const auto& r : remotes_) names.push_back(fmt::format("'{}' ({})", r.name, r.address));
    return fmt::format("{}", fmt::join(names, ", "));
  }

  run_result result() {
    std::vector<part_outcome> parts;
    if (local_ || local_result_) parts.push_back({"", "", local_result_});
    for (auto& r : remotes_) parts.push_back({r.name, r.address, r.result});
    run_result out;
    double seconds = started_ ? seconds_between(*started_, clock::now()) : 0;
    out.stats = merge_part_stats(graph_, split_, parts, seconds);
    for (const auto& [name, e] : out.stats.edges)
      if (e.lost > 0)
        failures_.push_back(fmt::format("{} packet{} sent over {} to a lost node never arrived",
                                        e.lost, e.lost == 1 ? "" : "s", name));
    out.failures = std::move(failures_);
    out.status = failed_        ? run_result::outcome::failed
                 : interrupted_ ? run_result::outcome::interrupted
                                : run_result::outcome::completed;
    return out;
  }

  const graph_def& graph_;
  const stage_registry& registry_;
  const deployment_options& options_;
  std::function<void(const std::string&)> log_;
  graph_split split_;
  std::string hash_;
  void* context_ = nullptr;
  std::vector<remote_node> remotes_;
  std::unique_ptr<running_part> local_;
  std::optional<run_result> local_result_;
  std::optional<clock::time_point> started_;
  std::vector<std::string> failures_;
  bool failed_ = false;
  bool interrupted_ = false;
  int stops_forwarded_ = 0;
};

}  // namespace

run_result run_deployment(const graph_def& graph, const stage_registry& registry,
                          const deployment_options& options) {
  try {
    check_security(options.secured);
    return coordinator_run(graph, registry, options).run();
  } catch (const std::exception& e) {
    run_result failed;
    failed.status = run_result::outcome::failed;
    failed.failures.push_back(e.what());
    failed.stats.graph = graph.name;
    return failed;
  }
}

std::map<std::string, std::string> node_public_keys(const graph_def& graph,
                                                    const std::string& allow_dir) {
  std::map<std::string, std::string> keys;
  for (const auto& [name, node] : graph.nodes) {
    auto file = std::filesystem::path(allow_dir) / (name + ".pub");
    if (!std::filesystem::exists(file))
      throw std::runtime_error(fmt::format(
          "{}: missing; the coordinator needs node '{}''s public key under the node's name "
          "(copy {}.pub, made by `loom keygen {}` on {}, into {})",
          file.string(), name, name, name, node.address, allow_dir));
    keys[name] = read_public_key(file);
  }
  return keys;
}

}  // namespace loom
