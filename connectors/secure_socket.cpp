// CURVE settings on ZeroMQ sockets, the start-up check that refuses to run unsecured by accident,
// and the process-wide INSECURE mark (see secure_socket.hpp).
#include "connectors/secure_socket.hpp"

#include <atomic>
#include <stdexcept>

#include <fmt/format.h>
#include <zmq.h>

namespace loom {
namespace {

// ZMQ_ZAP_ENFORCE_DOMAIN is in libzmq 4.3's draft API: the library handles it (Debian's 4.3.4
// does) even where the header hides it.
#ifdef ZMQ_ZAP_ENFORCE_DOMAIN
constexpr int zap_enforce_domain_option = ZMQ_ZAP_ENFORCE_DOMAIN;
#else
constexpr int zap_enforce_domain_option = 93;
#endif

std::atomic<bool> insecure_mark{false};

const char* how_to_secure =
    "make this node a key pair with `loom keygen NAME` and give it NAME.key; copy NAME.pub into "
    "the allow-list folder of every node it connects to, and their .pub files into its own. Or "
    "pass --insecure to run unauthenticated and unencrypted on a trusted network";

void set_option(void* socket, int option, const void* value, std::size_t size, const char* name) {
  if (zmq_setsockopt(socket, option, value, size) != 0)
    throw std::runtime_error(fmt::format("cannot set {} on a ZeroMQ socket: {}{}", name,
                                         zmq_strerror(zmq_errno()),
                                         option == zap_enforce_domain_option
                                             ? " (this libzmq lacks the draft option; loom needs "
                                               "a libzmq 4.3 built with it, as Debian's is)"
                                             : ""));
}

void set_key(void* socket, int option, const std::string& z85, const char* name) {
  set_option(socket, option, z85.c_str(), z85.size() + 1, name);  // Z85 text with its NUL
}

const curve_key_pair& keys_or_throw(const security& settings) {
  if (!settings.has_keys()) throw std::runtime_error(fmt::format("no CURVE keys: {}", how_to_secure));
  return settings.keys();
}

}  // namespace

security security::insecure() {
  insecure_mark.store(true);
  security settings;
  settings.insecure_ = true;
  return settings;
}

security security::curve(curve_key_pair own, allow_list allowed, std::string zap_domain) {
  if (!is_curve_key_text(own.public_key) || !is_curve_key_text(own.secret_key))
    throw std::invalid_argument("security::curve: the keys are not 40-character Z85 CURVE keys");
  if (zap_domain.empty())
    throw std::invalid_argument("security::curve: the ZAP domain is empty");
  security settings;
  settings.own_ = std::move(own);
  settings.allowed_ = std::move(allowed);
  settings.zap_domain_ = std::move(zap_domain);
  return settings;
}

security security::from_files(const std::filesystem::path& key_file,
                              const std::filesystem::path& allow_dir) {
  return curve(read_key_pair(key_file),
               allow_dir.empty() ? allow_list{} : allow_list::from_directory(allow_dir));
}

const curve_key_pair& security::keys() const {
  if (!own_) throw std::logic_error("security::keys: these settings have no keys");
  return *own_;
}

std::string_view security_banner() { return insecure_mark.load() ? "[INSECURE] " : ""; }

void check_security(const security& settings) {
  if (settings.is_insecure()) return;
  if (!settings.has_keys())
    throw std::runtime_error(fmt::format("refusing to start without CURVE keys: {}", how_to_secure));
  require_curve();
}

std::unique_ptr<zap_handler> start_zap_handler(void* zmq_context, const security& settings,
                                               zap_handler::log_fn log) {
  if (settings.is_insecure()) return nullptr;
  return std::make_unique<zap_handler>(zmq_context, settings.allowed(), settings.zap_domain(),
                                       std::move(log));
}

void configure_server(void* socket, const security& settings, const zap_handler* zap) {
  if (settings.is_insecure()) return;
  const auto& keys = keys_or_throw(settings);
  if (!zap)
    throw std::logic_error(
        "configure_server: no ZAP handler; start one (start_zap_handler) in the socket's context "
        "before configuring a server socket, or every client would be refused");
  if (zap->domain() != settings.zap_domain())
    throw std::logic_error(fmt::format("configure_server: the ZAP handler answers for domain '{}', "
                                       "the settings use '{}'", zap->domain(), settings.zap_domain()));
  int on = 1;
  set_option(socket, ZMQ_CURVE_SERVER, &on, sizeof on, "ZMQ_CURVE_SERVER");
  set_key(socket, ZMQ_CURVE_SECRETKEY, keys.secret_key, "ZMQ_CURVE_SECRETKEY");
  set_option(socket, ZMQ_ZAP_DOMAIN, settings.zap_domain().data(), settings.zap_domain().size(),
             "ZMQ_ZAP_DOMAIN");
  set_option(socket, zap_enforce_domain_option, &on, sizeof on, "ZMQ_ZAP_ENFORCE_DOMAIN");
}

void configure_client(void* socket, const security& settings, const std::string& server_public_key) {
  if (settings.is_insecure()) return;
  const auto& keys = keys_or_throw(settings);
  if (!is_curve_key_text(server_public_key))
    throw std::invalid_argument(fmt::format(
        "configure_client: the server's public key '{}' is not a 40-character Z85 CURVE key; it "
        "is the `public` line of the server node's NAME.pub", server_public_key.substr(0, 48)));
  set_key(socket, ZMQ_CURVE_SERVERKEY, server_public_key, "ZMQ_CURVE_SERVERKEY");
  set_key(socket, ZMQ_CURVE_PUBLICKEY, keys.public_key, "ZMQ_CURVE_PUBLICKEY");
  set_key(socket, ZMQ_CURVE_SECRETKEY, keys.secret_key, "ZMQ_CURVE_SECRETKEY");
}

}  // namespace loom
