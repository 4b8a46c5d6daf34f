// The ZAP handler's thread: a REP socket on inproc://zeromq.zap.01 answering libzmq's requests
// (RFC 27: version, request id, domain, address, routing id, mechanism, credentials), and a pipe
// that wakes it to stop. Requests come from libzmq inside this process, yet each is still checked
// frame by frame: a malformed one gets 500 and is counted as a refusal, never a crash.
#include "connectors/zap_handler.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <stdexcept>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <zmq.h>

#include "connectors/secure_socket.hpp"

namespace loom {
namespace {

constexpr const char* zap_endpoint = "inproc://zeromq.zap.01";
// A ZAP request has 6 frames plus the mechanism's credentials (one 32-byte key for CURVE); its
// frames are short. More or longer ones are malformed and only their first bytes are kept.
constexpr std::size_t max_request_frames = 8;
constexpr std::size_t max_frame_bytes = 256;
constexpr std::size_t curve_key_bytes = 32;

struct verdict {
  std::string code;  // "200", "400" or "500"
  std::string text;
  std::string user_id;
  std::string log_line;
};

}  // namespace

struct zap_handler::impl {
  void* socket = nullptr;
  int wake[2] = {-1, -1};
  allow_list allowed;
  std::string domain;
  log_fn log;
  std::atomic<std::uint64_t> accepted{0};
  std::atomic<std::uint64_t> refused{0};
  std::thread thread;

  ~impl() {
    if (socket) zmq_close(socket);  // only when the thread never started
    for (int fd : wake)
      if (fd >= 0) ::close(fd);
  }

  void run() {
    zmq_pollitem_t items[2] = {{socket, 0, ZMQ_POLLIN, 0}, {nullptr, wake[0], ZMQ_POLLIN, 0}};
    for (;;) {
      if (zmq_poll(items, 2, -1) < 0) {
        if (zmq_errno() == EINTR) continue;
        break;  // ETERM: the context is terminating, and waits for this socket to close
      }
      if (items[1].revents & ZMQ_POLLIN) break;
      if ((items[0].revents & ZMQ_POLLIN) && !answer_one()) break;
    }
    zmq_close(socket);
    socket = nullptr;
  }

  // Reads one request and sends its reply; false when the context is terminating.
  bool answer_one() {
    std::vector<std::string> frames;
    bool more = true;
    bool oversized = false;
    while (more) {
      zmq_msg_t message;
      zmq_msg_init(&message);
      if (zmq_msg_recv(&message, socket, frames.empty() && !oversized ? ZMQ_DONTWAIT : 0) < 0) {
        auto error = zmq_errno();
        zmq_msg_close(&message);
        if (error == EINTR) continue;
        if (error == EAGAIN && frames.empty()) return true;
        return false;
      }
      more = zmq_msg_more(&message);
      auto size = zmq_msg_size(&message);
      if (frames.size() < max_request_frames && size <= max_frame_bytes)
        frames.emplace_back(static_cast<const char*>(zmq_msg_data(&message)), size);
      else
        oversized = true;
      zmq_msg_close(&message);
    }
    auto answer = judge(frames, oversized);
    (answer.code == "200" ? accepted : refused).fetch_add(1, std::memory_order_relaxed);
    log(answer.log_line);
    const std::string reply[] = {"1.0", frames.size() > 1 ? frames[1] : std::string(), answer.code,
                                 answer.text, answer.user_id, std::string()};
    for (std::size_t i = 0; i < std::size(reply); ++i) {
      int flags = i + 1 < std::size(reply) ? ZMQ_SNDMORE : 0;
      while (zmq_send(socket, reply[i].data(), reply[i].size(), flags) < 0)
        if (zmq_errno() != EINTR) return false;
    }
    return true;
  }

  verdict judge(const std::vector<std::string>& frames, bool oversized) const {
    if (oversized || frames.size() < 6 || frames[0] != "1.0")
      return {"500", "malformed ZAP request", "",
              fmt::format("zap: refused a malformed ZAP request ({} frames{})", frames.size(),
                          oversized ? ", some too many or too long" : "")};
    const auto& request_domain = frames[2];
    const auto address = frames[3].empty() ? std::string("an unknown address") : frames[3];
    const auto& mechanism = frames[5];
    if (mechanism != "CURVE")
      return {"400", "loom servers accept CURVE clients only", "",
              fmt::format("zap: refused a {} client from {}: loom servers accept CURVE clients only "
                          "(is that node running with --insecure?)",
                          mechanism.substr(0, 16), address)};
    if (frames.size() != 7 || frames[6].size() != curve_key_bytes)
      return {"500", "malformed ZAP request", "",
              fmt::format("zap: refused a CURVE client from {}: malformed credentials", address)};
    char key[curve_key_text_size + 1] = {};
    zmq_z85_encode(key, reinterpret_cast<const std::uint8_t*>(frames[6].data()), curve_key_bytes);
    if (request_domain != domain)
      return {"400", "unknown ZAP domain", "",
              fmt::format("zap: refused a CURVE client from {} with public key {}: ZAP domain '{}' "
                          "is not '{}'", address, key, request_domain.substr(0, 64), domain)};
    auto name = allowed.name_of(key);
    if (name.empty())
      return {"400", "public key not on the allow-list", "",
              fmt::format("zap: refused a CURVE client from {} with public key {}: not on the "
                          "allow-list ({} keys); to accept it, copy its NAME.pub into this node's "
                          "allow-list folder and restart the node",
                          address, key, allowed.size())};
    return {"200", "OK", name,
            fmt::format("zap: accepted '{}' from {} (public key {})", name, address, key)};
  }
};

zap_handler::zap_handler(void* zmq_context, allow_list allowed, std::string domain, log_fn log)
    : impl_(std::make_unique<impl>()) {
  require_curve();
  if (allowed.empty())
    throw std::invalid_argument(
        "zap_handler: the allow-list is empty, so every client would be refused; copy the NAME.pub "
        "file of every node that may connect into the allow-list folder");
  if (domain.empty())
    throw std::invalid_argument("zap_handler: the ZAP domain is empty; libzmq consults the handler "
                                "only for sockets with a domain (use loom_zap_domain)");
  impl_->allowed = std::move(allowed);
  impl_->domain = std::move(domain);
  impl_->log = log ? std::move(log) : [](const std::string& line) {
    std::fprintf(stderr, "loom: %s%s\n", std::string(security_banner()).c_str(), line.c_str());
  };
  impl_->socket = zmq_socket(zmq_context, ZMQ_REP);
  if (!impl_->socket)
    throw std::runtime_error(fmt::format("zap_handler: cannot open a socket in this ZeroMQ context: {}",
                                         zmq_strerror(zmq_errno())));
  int linger = 0;
  zmq_setsockopt(impl_->socket, ZMQ_LINGER, &linger, sizeof linger);
  if (zmq_bind(impl_->socket, zap_endpoint) != 0) {
    auto error = zmq_errno();
    zmq_close(impl_->socket);
    impl_->socket = nullptr;
    throw std::runtime_error(
        error == EADDRINUSE
            ? fmt::format("zap_handler: this ZeroMQ context already has a ZAP handler ({} is "
                          "bound); run one zap_handler per context", zap_endpoint)
            : fmt::format("zap_handler: cannot bind {}: {}", zap_endpoint, zmq_strerror(error)));
  }
  if (::pipe2(impl_->wake, O_CLOEXEC | O_NONBLOCK) != 0)
    throw std::runtime_error("zap_handler: cannot make its wake-up pipe");
  impl_->thread = std::thread([state = impl_.get()] { state->run(); });
}

zap_handler::~zap_handler() { stop(); }

void zap_handler::stop() {
  if (!impl_->thread.joinable()) return;
  char byte = 1;
  while (::write(impl_->wake[1], &byte, 1) < 0 && errno == EINTR) {
  }
  impl_->thread.join();
}

const std::string& zap_handler::domain() const { return impl_->domain; }
std::uint64_t zap_handler::accepted() const { return impl_->accepted.load(std::memory_order_relaxed); }
std::uint64_t zap_handler::refused() const { return impl_->refused.load(std::memory_order_relaxed); }

}  // namespace loom
