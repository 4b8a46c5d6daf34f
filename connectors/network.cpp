// The process-wide network settings and ZeroMQ context (see network.hpp).
#include "connectors/network.hpp"

#include <malloc.h>

#include <fstream>
#include <mutex>
#include <stdexcept>

#include <fmt/format.h>
#include <zmq.h>

namespace loom {
namespace {

std::mutex current_mutex;
std::shared_ptr<network> current;

}  // namespace

// The 1 MiB edge's throughput fell with the page-fault count (docs/benchmarks.md,
// bench_tcp_edge): trim above 256 MiB, frames up to 32 MiB from the heap.
void keep_freed_memory_for_frames() {
  static std::once_flag once;
  std::call_once(once, [] {
    mallopt(M_TRIM_THRESHOLD, 256 << 20);
    mallopt(M_MMAP_THRESHOLD, 32 << 20);
  });
}

network::network(network_settings settings) : settings_(std::move(settings)) {
  check_security(settings_.secured);
  context_ = zmq_ctx_new();
  if (!context_)
    throw std::runtime_error(fmt::format("cannot create a ZeroMQ context: {}",
                                         zmq_strerror(zmq_errno())));
  hello_.loom_version = LOOM_VERSION;
  hello_.graph_hash = settings_.graph_hash;
  hello_.node_name = settings_.node_name;
  hello_.boot_id = host_boot_id();
}

network::~network() {
  // Sockets of this context are all closed by now (each holds the network); the handler goes
  // first, then the context, which waits at most each socket's finite linger.
  if (zap_) zap_->stop();
  zap_.reset();
  zmq_ctx_term(context_);
}

const zap_handler* network::zap() {
  std::lock_guard lock(zap_mutex_);
  if (!zap_ && !settings_.secured.is_insecure())
    zap_ = start_zap_handler(context_, settings_.secured);
  return zap_.get();
}

void configure_network(network_settings settings) {
  keep_freed_memory_for_frames();
  auto made = std::make_shared<network>(std::move(settings));
  std::lock_guard lock(current_mutex);
  current = std::move(made);
}

std::shared_ptr<network> shared_process_network() {
  std::lock_guard lock(current_mutex);
  if (!current)
    throw std::runtime_error(
        "the network is not configured: zmq_source and zmq_sink need either CURVE keys "
        "(--key NAME.key, and --allow DIR on a node that accepts connections; make them with "
        "`loom keygen NAME`) or an explicit --insecure to run unauthenticated on a trusted "
        "network");
  return current;
}

network& process_network() { return *shared_process_network(); }

const std::string& host_boot_id() {
  static const std::string id = [] {
    std::ifstream file("/proc/sys/kernel/random/boot_id");
    std::string line;
    std::getline(file, line);
    return line.size() <= 64 ? line : std::string();
  }();
  return id;
}

}  // namespace loom
