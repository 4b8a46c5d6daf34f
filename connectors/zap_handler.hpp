// The ZAP handler (ZeroMQ RFC 27) that decides which CURVE clients a loom server accepts: the
// allow-list. libzmq asks it about every incoming CURVE handshake on a server socket of the same
// context whose ZAP domain is set; it answers 200 for a client whose public key is on the
// allow-list and 400 for every other (a key not on the list, another mechanism, another domain),
// and counts and logs each refusal with the peer's address and key.
//
// Without a handler libzmq lets any CURVE client in; loom's server sockets therefore set
// ZMQ_ZAP_ENFORCE_DOMAIN, which turns a missing handler into a refusal (secure_socket.hpp). So:
// one handler per ZeroMQ context, started before any server socket binds, stopped (or destroyed)
// after the server sockets close and before the context terminates:
//
//   void* context = zmq_ctx_new();
//   zap_handler zap(context, allow_list::from_directory("/etc/loom/allow"));
//   ... configure_server(socket, settings, &zap); zmq_bind(socket, ...) ... zmq_close(socket);
//   zap.stop();
//   zmq_ctx_term(context);
//
// It answers on its own thread. It also ends by itself if the context is terminated first, so
// shutdown never hangs on it. Public header: no ZeroMQ types (the context is a void*).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "connectors/curve_keys.hpp"

namespace loom {

// The ZAP domain loom's server sockets set; requests for any other domain are refused.
inline constexpr const char* loom_zap_domain = "loom";

class zap_handler {
 public:
  using log_fn = std::function<void(const std::string& line)>;

  // Binds inproc://zeromq.zap.01 in `zmq_context` (from zmq_ctx_new) before returning, then
  // answers from its own thread. Throws when the allow-list is empty, when the context already
  // has a handler, or when libzmq lacks CURVE. `log` receives one line per accepted and refused
  // client, on the handler's thread; by default they go to standard error, prefixed by
  // security_banner().
  zap_handler(void* zmq_context, allow_list allowed, std::string domain = loom_zap_domain,
              log_fn log = {});
  ~zap_handler();
  zap_handler(const zap_handler&) = delete;
  zap_handler& operator=(const zap_handler&) = delete;

  // Stops answering and closes the handler's socket; from then on, CURVE handshakes on server
  // sockets with the domain enforced fail. Idempotent.
  void stop();

  const std::string& domain() const;
  std::uint64_t accepted() const;
  std::uint64_t refused() const;

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace loom
