// The process's network settings and the ZeroMQ context every data-plane socket lives in. The CLI
// configures them once, before a run (`--key FILE --allow DIR`, or `--insecure`; the node name and
// graph hash of a deployment), and zmq_source / zmq_sink take their context, security and hello
// from here:
//
//   configure_network({security::from_files("keys/gpu1.key", "allow"), "gpu1", graph_sha256});
//   auto net = shared_process_network();        // throws, saying how, when never configured
//   net->zap();                                  // before a server socket binds (CURVE only)
//
// Configuring again replaces the settings for later users; sockets opened under the earlier ones
// keep their context alive until they close (each holds a shared_ptr to its network), so a run
// never loses its context under it.
//
// Public header: no ZeroMQ types (the context is a void*).
#pragma once

#include <memory>
#include <mutex>
#include <string>

#include "connectors/secure_socket.hpp"
#include "connectors/wire_codec.hpp"

namespace loom {

struct network_settings {
  security secured;        // security::insecure() or security::curve/from_files(...)
  std::string node_name;   // "" on a plain `loom run`; the node's name in a deployment
  std::string graph_hash;  // the run's graph hash for hellos ("" matches any peer)
};

// Once, by the CLI, before a run; replaces earlier settings. Throws (check_security) when the
// settings have neither keys nor the insecure mark, or libzmq lacks CURVE.
void configure_network(network_settings settings);

class network {
 public:
  explicit network(network_settings settings);
  ~network();
  network(const network&) = delete;
  network& operator=(const network&) = delete;

  const network_settings& settings() const { return settings_; }
  const security& secured() const { return settings_.secured; }
  // The ZeroMQ context (zmq_ctx_new), for connectors/ code.
  void* context() const { return context_; }
  // The ZAP handler of the context, started on the first call; null when insecure. Throws when
  // secured with an empty allow-list (a server would refuse every client).
  const zap_handler* zap();
  // What this process says first on a connection: loom's version, the wire protocol, the graph
  // hash, the node name and the host's boot id.
  const wire::hello& local_hello() const { return hello_; }

 private:
  network_settings settings_;
  void* context_ = nullptr;
  std::mutex zap_mutex_;
  std::unique_ptr<zap_handler> zap_;
  wire::hello hello_;
};

// The network of the latest configure_network; throws, saying how to fix it (--key/--allow or
// --insecure), when it was never called.
network& process_network();
std::shared_ptr<network> shared_process_network();

// Makes glibc keep freed memory for ZeroMQ's receive frames (configure_network does it): frames
// are malloc'd by the I/O thread, and loom keeps up to an edge's capacity of them alive, so with
// glibc's default thresholds the freed top of the heap goes back to the kernel and the next frames
// fault it in again. Trades resident memory (what the next frames use anyway) for speed; a
// process-wide choice, made once.
void keep_freed_memory_for_frames();

// This host's boot id (/proc/sys/kernel/random/boot_id), "" where there is none.
const std::string& host_boot_id();

}  // namespace loom
