// How loom's ZeroMQ sockets are secured, from one `security` value per process:
//
//   auto settings = security::from_files("keys/gpu1.key", "allow");  // or security::insecure()
//   check_security(settings);                       // at start-up: refuses to run without keys
//   auto zap = start_zap_handler(context, settings); // before any server socket binds
//   configure_server(listener, settings, zap.get()); zmq_bind(listener, ...);
//   configure_client(dialer, settings, server_public_key); zmq_connect(dialer, ...);
//
// A server socket gets ZMQ_CURVE_SERVER, its secret key, loom's ZAP domain and
// ZMQ_ZAP_ENFORCE_DOMAIN (so a missing ZAP handler refuses every client instead of accepting
// every one); a client socket gets the server's public key and its own pair. Settings apply to
// later bind/connect calls only, so configure first.
//
// `security::insecure()` is the explicit, visible way to run without CURVE on a trusted network
// (`--insecure`): it configures nothing, and from the moment it is asked for, security_banner()
// returns "[INSECURE] " — every log line of the run starts with it, so nobody mistakes such a run
// for a secured one. A default-constructed `security` has neither keys nor the insecure mark, and
// check_security refuses it.
//
// Public header: no ZeroMQ types (sockets and contexts are void*).
#pragma once

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "connectors/curve_keys.hpp"
#include "connectors/zap_handler.hpp"

namespace loom {

class security {
 public:
  security() = default;  // no keys and not insecure: check_security refuses it

  // Runs without authentication or encryption, and marks the process: see security_banner().
  static security insecure();
  // CURVE with this node's key pair; `allowed` may be empty for a node that only connects out.
  static security curve(curve_key_pair own, allow_list allowed = {},
                        std::string zap_domain = loom_zap_domain);
  // Reads KEY_FILE (NAME.key) and, when `allow_dir` is not empty, the allow-list folder.
  static security from_files(const std::filesystem::path& key_file,
                             const std::filesystem::path& allow_dir = {});

  bool is_insecure() const { return insecure_; }
  bool has_keys() const { return own_.has_value(); }
  // Throws std::logic_error when there are no keys.
  const curve_key_pair& keys() const;
  const allow_list& allowed() const { return allowed_; }
  const std::string& zap_domain() const { return zap_domain_; }

 private:
  bool insecure_ = false;
  std::optional<curve_key_pair> own_;
  allow_list allowed_;
  std::string zap_domain_ = loom_zap_domain;
};

// "[INSECURE] " once security::insecure() was asked for in this process, "" otherwise. Every part
// of loom that logs starts its lines with it.
std::string_view security_banner();

// The start-up check: throws, saying how to fix it (`loom keygen`, or `--insecure`), unless the
// settings carry keys or were asked to be insecure; also checks that libzmq can do CURVE.
void check_security(const security& settings);

// Starts the ZAP handler for `zmq_context` with the settings' allow-list and domain, or returns
// null when insecure. Throws when secured but the allow-list is empty.
std::unique_ptr<zap_handler> start_zap_handler(void* zmq_context, const security& settings,
                                               zap_handler::log_fn log = {});

// Before bind: a CURVE server whose clients `zap` judges. `zap` must be running in the socket's
// context with the same domain; it is ignored (may be null) when insecure.
void configure_server(void* socket, const security& settings, const zap_handler* zap);

// Before connect: a CURVE client of the server whose public key (Z85) is given; nothing when
// insecure.
void configure_client(void* socket, const security& settings, const std::string& server_public_key);

}  // namespace loom
