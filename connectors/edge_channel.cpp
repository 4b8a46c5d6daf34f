// The conversation on one cross-process edge (see edge_channel.hpp and docs/connectors.md, "Data
// plane"). The socket and every piece of state live under one mutex, and whichever thread holds
// it uses the socket (ZeroMQ sockets are not thread-safe, but may change threads between calls).
// On the hot path the stage's thread does all the work itself, with no thread switch: push()
// sends its packet (reading the credit that came in only when the credit it knows of ran out),
// and a push that has to wait sleeps in poll() on the socket's ZMQ_FD; take() receives the next
// message the way a plain blocking ZeroMQ reader does — the socket lent to the stage's thread,
// the mutex released, waiting inside libzmq up to poll_interval at a time — and tends the timers
// between receives itself. The channel's thread keeps the timers (heartbeats, silence, credit
// that lingers) and serves the socket while the stage is busy elsewhere; it watches the socket
// only then, and when it changed something a waiting stage must see, it wakes the stage through
// an eventfd.
//
// ZMQ_FD only says "something may have changed", and any call on the socket may consume that
// signal. So a wait on it starts only right after a read that found the socket empty, and the
// channel's thread reads at every round, woken or not (at least every poll_interval): what a
// stage's call leaves unread waits at most that long. On this path a system call counts: a read
// that finds nothing costs ZeroMQ two, and a wait in poll() on ZMQ_FD two more than a wait
// inside libzmq (bench_tcp_edge, docs/benchmarks.md).
#include "connectors/edge_channel.hpp"

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <deque>
#include <exception>
#include <map>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <zmq.h>

#include "connectors/edge_peers.hpp"
#include "connectors/zmq_frames.hpp"

namespace loom {
namespace {

using clock = edge_peers::clock;
using namespace std::chrono_literals;

// How long the thread sleeps when nothing happens: the resolution of heartbeats and silence.
constexpr auto poll_interval = 20ms;
// Messages read per round before timers get their turn, so a flood cannot starve heartbeats.
constexpr int messages_per_round = 512;
// After the byes went out the socket stays open this long, reading and dropping what peers sent
// before they saw the bye. Closed at once, the kernel would answer such late frames (a last
// credit, a heartbeat) with a TCP reset, and a reset makes the peer's kernel discard what it has
// not read yet — the bye among it.
constexpr auto bye_grace = 100ms;
// A receive in take() that returns sooner than this found its message queued already (taking a
// queued one costs a few µs; one that had to wait was put to sleep and woken, which takes longer),
// so more may be queued behind it and take() reads them too. After a wait the next message is
// most likely still on its way, and looking for it would cost ZeroMQ two system calls for nothing.
constexpr auto queued_receive = 20us;
// How long a send that met ZeroMQ's high-water mark waits before it tries again.
constexpr auto busy_retry = 1ms;
// Credit short of a batch goes back once its sender has sent nothing for this long: at the end of
// a stream (its sender waits for every credit before its bye) or in a pause.
constexpr auto credit_linger = 5ms;

std::int64_t ms(clock::duration d) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
}

enum class send_result { sent, busy, gone };

}  // namespace

struct edge_channel::impl {
  impl(edge_role r, edge_options o, std::shared_ptr<network> n)
      : role(r), options(std::move(o)), net(std::move(n)) {}

  edge_role role;
  edge_options options;
  std::shared_ptr<network> net;
  std::thread thread;
  int socket_fd = -1;  // ZMQ_FD: readable when the socket's state may have changed
  int wake_fd = -1;    // wakes the channel's thread
  int stage_fd = -1;   // wakes the stage's thread from wait_for_news

  // -- everything below, the socket included, under `mutex` --
  mutable std::mutex mutex;
  void* socket = nullptr;
  bool stage_waiting = false;  // the stage's thread sleeps in wait_for_news
  // The stage's thread waits inside a receive on the socket, without the mutex (take()): until
  // it comes back, nobody else touches the socket.
  bool stage_in_socket = false;
  int receive_timeout_ms = -1;  // the socket's ZMQ_RCVTIMEO as take() last set it
  // The last call on the socket was a read that found it empty, so ZMQ_FD will signal what comes
  // next: a wait may start without reading again. Any other call may consume the signal.
  bool read_to_empty = false;
  std::uint64_t frames_read = 0;
  struct arrival {
    std::string peer;
    packet_ptr value;
  };
  std::deque<arrival> queue;  // receiver: packets not yet taken
  std::size_t byes = 0;
  bool answered = false;  // the hello was answered (a connecting channel)
  bool stopping = false;
  bool leaving = false;   // the byes went out: frames are read and dropped, timers are off
  std::string failure;
  std::map<std::string, edge_peers::peer> peers;  // ready peers: the hello went both ways
  edge_peers::refused_set refused_peers;
  std::string next_receiver;  // sender: round robin starts after this peer
  bool hello_sent = false;
  bool warned_unanswered = false;
  clock::time_point started = clock::now();

  // -- counters, read from anywhere --
  std::atomic<std::uint64_t> packets{0}, bytes{0}, refused{0}, credit_wait_ns{0},
      in_flight_peak{0}, peers_seen{0};

  // ---- set-up and tear-down ----

  void open() {
    socket = zmq_socket(net->context(), options.bind ? ZMQ_ROUTER : ZMQ_DEALER);
    if (!socket) throw_zmq("cannot create a socket");
    try {
      wire::socket_settings settings;
      settings.max_frame_bytes = static_cast<std::int64_t>(wire::max_frame_bytes(options.limits));
      wire::apply_settings(socket, settings,
                           options.bind ? wire::socket_role::binds : wire::socket_role::connects);
      const auto& secured = net->secured();
      if (options.bind) {
        configure_server(socket, secured, net->zap());
        if (zmq_bind(socket, options.endpoint.c_str()) != 0)
          throw_zmq("cannot bind", "; is another process (or another stage) bound to it, or is "
                                   "the address not one of this machine's?");
      } else {
        if (!secured.is_insecure() && options.server_key.empty())
          throw std::runtime_error(fmt::format(
              "connecting to {} under CURVE needs server_key = the binding node's public key "
              "(the `public` line of its NAME.pub), or run with --insecure",
              options.endpoint));
        configure_client(socket, secured, options.server_key);
        if (zmq_connect(socket, options.endpoint.c_str()) != 0)
          throw_zmq("cannot connect to", "; check the endpoint's spelling (tcp://HOST:PORT or "
                                         "ipc:///PATH)");
      }
      std::size_t size = sizeof socket_fd;
      if (zmq_getsockopt(socket, ZMQ_FD, &socket_fd, &size) != 0)
        throw_zmq("cannot read the socket's file descriptor of");
      wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
      stage_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
      if (wake_fd < 0 || stage_fd < 0)
        throw std::runtime_error(fmt::format("cannot create an eventfd for {}: {}",
                                             options.endpoint, std::strerror(errno)));
    } catch (...) {
      close_socket();
      throw;
    }
    thread = std::thread([this] { run(); });
  }

  // The socket's linger (wire::socket_settings, finite) lets what was sent go out after this.
  void close_socket() {
    if (socket) zmq_close(socket);
    socket = nullptr;
    for (int* fd : {&wake_fd, &stage_fd}) {
      if (*fd >= 0) ::close(*fd);
      *fd = -1;
    }
  }

  [[noreturn]] void throw_zmq(std::string_view what, std::string_view fix = "") const {
    throw std::runtime_error(
        fmt::format("{} {}: {}{}", what, options.endpoint, zmq_strerror(zmq_errno()), fix));
  }

  static void signal(int fd) {
    const std::uint64_t one = 1;
    [[maybe_unused]] auto written = ::write(fd, &one, sizeof one);
  }

  static void clear(int fd) {
    std::uint64_t count = 0;
    [[maybe_unused]] auto read = ::read(fd, &count, sizeof count);
  }

  void wake() const { signal(wake_fd); }

  // The stage's thread, under `lock`: sleeps until the socket or the channel's thread has news,
  // or until `until`. The caller looks again at what it waits for.
  void wait_for_news(std::unique_lock<std::mutex>& lock, clock::time_point until) {
    const auto left = std::chrono::ceil<std::chrono::milliseconds>(until - clock::now());
    if (left.count() <= 0) return;
    stage_waiting = true;
    lock.unlock();
    pollfd fds[2] = {{socket_fd, POLLIN, 0}, {stage_fd, POLLIN, 0}};
    ::poll(fds, 2, static_cast<int>(left.count()));
    if (fds[1].revents & POLLIN) clear(stage_fd);
    lock.lock();
    stage_waiting = false;
    if (fds[0].revents & POLLIN) read_to_empty = false;
  }

  // The stage's thread in take(), under `lock`: tends the timers, then receives the next
  // message, waiting for it up to `until` (poll_interval at most) inside libzmq with the mutex
  // released — one blocking poll() per wait, as a plain reader's — and reads what was queued
  // behind it, when it was queued. Meanwhile the channel's thread leaves the socket alone
  // (stage_in_socket). The timers come first so that read_to_empty tells of the last read.
  void receive_waiting(std::unique_lock<std::mutex>& lock, clock::time_point until) {
    if (!leaving) tend();
    if (!failure.empty()) return;  // a peer fell silent: the caller throws without waiting
    const auto began = clock::now();
    const auto left = std::chrono::ceil<std::chrono::milliseconds>(until - began);
    const int timeout = static_cast<int>(std::clamp<std::int64_t>(
        left.count(), 0, std::chrono::milliseconds(poll_interval).count()));
    if (timeout != receive_timeout_ms) {
      if (zmq_setsockopt(socket, ZMQ_RCVTIMEO, &timeout, sizeof timeout) != 0)
        throw_zmq("cannot set the receive timeout of");
      receive_timeout_ms = timeout;
    }
    std::optional<wire::frame_message> first;
    std::exception_ptr failed;
    stage_in_socket = true;
    lock.unlock();
    try {
      first = wire::receive_frame(socket, 0);
    } catch (...) {
      failed = std::current_exception();
    }
    lock.lock();
    stage_in_socket = false;
    if (failed) std::rethrow_exception(failed);
    read_to_empty = !first;  // a receive that timed out left ZMQ_FD armed, as an empty read does
    if (first) {
      handle_message(*first);
      ++frames_read;
      if (clock::now() - began < queued_receive) receive_available();
    }
  }

  // The process's log writer starts each line with security_banner() (the CLI's, the node's).
  void log(const std::string& line) const {
    if (options.log) options.log(line);
  }

  // Under the mutex: the first failure sticks. A waiting stage hears of it from the channel's
  // thread (the end of its round, or run()); the stage's own calls check it when they return.
  void fail(std::string message) {
    if (failure.empty()) failure = std::move(message);
  }

  [[noreturn]] void throw_failure() const { throw std::runtime_error(failure); }

  // Runs `use` (socket work on the stage's thread, under the mutex); what it throws becomes the
  // channel's failure, naming the endpoint.
  template <class Use>
  auto guarded(Use&& use) {
    try {
      return use();
    } catch (const std::exception& e) {
      fail(fmt::format("{}: {}", options.endpoint, e.what()));
      throw_failure();
    }
  }

  // ---- the thread ----

  void run() {
    try {
      loop();
    } catch (const std::exception& e) {
      std::lock_guard lock(mutex);
      fail(fmt::format("{}: {}", options.endpoint, e.what()));
      signal(stage_fd);
    }
  }

  void loop() {
    bool more = true;           // input is still waiting (and the first round says hello): no sleep
    bool watch_socket = true;   // false while the stage's thread watches it
    for (;;) {
      pollfd fds[2] = {{wake_fd, POLLIN, 0}, {socket_fd, POLLIN, 0}};
      const auto timeout = more ? 0 : static_cast<int>(poll_interval.count());
      if (::poll(fds, watch_socket ? 2 : 1, timeout) < 0 && errno != EINTR)
        throw std::runtime_error(fmt::format("polling failed: {}", std::strerror(errno)));
      if (fds[0].revents & POLLIN) clear(wake_fd);
      std::lock_guard lock(mutex);
      if (stopping || !failure.empty()) return;
      if (stage_in_socket) {  // the stage's thread tends the timers meanwhile
        more = watch_socket = false;
        continue;
      }
      const auto read_before = frames_read;
      more = receive_available();
      if (!leaving) {
        tend();
        more = receive_available() || more;
      }
      if (stage_waiting && (frames_read != read_before || !failure.empty())) signal(stage_fd);
      watch_socket = !stage_waiting;
    }
  }

  // ---- receiving ----

  // Reads what the socket holds, up to a round's worth; true when more is still waiting.
  bool receive_available() {
    for (int i = 0; i < messages_per_round; ++i)
      if (!receive_one()) return false;
    return input_waiting();
  }

  bool input_waiting() {
    int events = 0;
    std::size_t size = sizeof events;
    const bool asked = zmq_getsockopt(socket, ZMQ_EVENTS, &events, &size) == 0;
    read_to_empty = asked && !(events & ZMQ_POLLIN);
    return asked && (events & ZMQ_POLLIN);
  }

  // The stage's thread reads what the socket holds; a flood beyond one round is left to the
  // channel's thread, woken for it.
  void settle() {
    if (receive_available()) wake();
  }

  std::string peer_name(const std::string& address, const std::string& node = {}) const {
    if (!options.bind) return options.endpoint;
    std::string where = address.empty() ? std::string("a peer") : address;
    return node.empty() ? fmt::format("{} (peer {})", options.endpoint, where)
                        : fmt::format("{} (peer {}, node {:?})", options.endpoint, where, node);
  }

  // One message from the socket, handled; false when none was waiting.
  bool receive_one() {
    read_to_empty = false;
    if (!read_one()) {
      read_to_empty = true;
      return false;
    }
    ++frames_read;
    return true;
  }

  bool read_one() {
    auto first = wire::receive_frame(socket, ZMQ_DONTWAIT);
    if (!first) return false;
    handle_message(*first);
    return true;
  }

  // The message whose first frame came in: for a binding channel its sender's routing identity,
  // for a connecting one its header (taken over from `first`).
  void handle_message(wire::frame_message& first) {
    std::string id;
    std::string address;
    auto it = peers.end();
    bool more = true;  // a routing identity with nothing after it is an empty message
    if (options.bind) {
      id.assign(reinterpret_cast<const char*>(first.data()), first.size());
      it = peers.find(id);
      // A known peer has its name already; only a stranger's address is looked up, to name it.
      if (it == peers.end())
        if (const char* a = zmq_msg_gets(first.get(), "Peer-Address")) address = a;
      more = first.more();
    } else {
      it = peers.find(id);
    }
    const std::string stranger = it == peers.end() ? peer_name(address) : std::string();
    const std::string& name = it != peers.end() ? it->second.name : stranger;
    if (!more) {
      if (!leaving) refuse(id, name, "an empty message");
      return;
    }
    std::optional<wire::received_message> message;
    try {
      message = options.bind ? wire::receive_message(socket, name, options.limits, true)
                             : wire::complete_message(socket, std::move(first), name,
                                                      options.limits);
    } catch (const wire::wire_error& e) {
      if (!leaving) refuse(id, name, e.what());
      return;
    }
    if (!message || leaving) return;
    std::optional<wire::frame> decoded;
    try {
      decoded = wire::decode(message->header, message->payloads, name, options.limits);
    } catch (const wire::wire_error& e) {
      return refuse(id, name, e.what());
    }
    if (const auto* reason = refused_peers.find(id)) return refuse(id, name, *reason);
    if (it == peers.end())
      from_stranger(id, address, std::move(*decoded));
    else
      from_peer(id, it->second, std::move(*decoded));
  }

  // A frame from a connection that has not completed its hello: only a hello (or, to a
  // connecting channel, an error) is welcome.
  void from_stranger(const std::string& id, const std::string& address, wire::frame frame) {
    const auto name = peer_name(address);
    if (auto* error = std::get_if<wire::peer_error>(&frame)) {
      if (!options.bind)
        return fail(fmt::format("{} refused this stage: {}", options.endpoint, error->message));
      refused.fetch_add(1);
      return;  // never answer an error with an error
    }
    auto* theirs = std::get_if<wire::hello>(&frame);
    if (!theirs)
      return refuse(id, name,
                    fmt::format("{} sent a {} frame before its hello; a connection opens with a "
                                "hello (wire protocol {})",
                                name, kind_of(frame), wire::wire_protocol_version));
    if (auto reason = wire::refuse_reason(net->local_hello(), *theirs))
      return refuse(id, name, *reason);
    if (!options.bind && !hello_sent)
      return refuse(id, name, "the binding side spoke before this side's hello");
    if (peers.size() >= options.max_peers)
      return refuse(id, name,
                    fmt::format("{} already serves {} peers, its limit", options.endpoint,
                                options.max_peers));
    auto& p = peers[id];
    p.name = peer_name(address, theirs->node_name);
    p.same_host = !theirs->boot_id.empty() && theirs->boot_id == net->local_hello().boot_id;
    p.heard = p.sent = clock::now();
    peers_seen.fetch_add(1);
    if (options.bind) send_to(id, wire::encode_frame(net->local_hello(), options.limits));
    if (role == edge_role::receives_data) grant(id, p, options.capacity);
    answered = true;
    log(fmt::format("{} connected (node {:?}, loom {})", p.name,
                    theirs->node_name, theirs->loom_version));
  }

  void from_peer(const std::string& id, edge_peers::peer& p, wire::frame frame) {
    p.heard = clock::now();
    if (auto* f = std::get_if<wire::packet_frame>(&frame)) {
      if (role != edge_role::receives_data)
        return refuse(id, p.name, fmt::format("{} sent a packet to {}, which sends data and "
                                              "takes none",
                                              p.name, options.endpoint));
      if (f->edge_id != options.edge)
        return refuse(id, p.name, wrong_edge(p.name, "packet", f->edge_id));
      if (!p.has_credit_for_one())
        return refuse(id, p.name,
                      fmt::format("{} sent a packet without credit ({} granted, {} received); "
                                  "a sender sends one packet per credit",
                                  p.name, p.granted, p.received));
      ++p.received;
      p.packet = p.heard;
      raise_peak(p.held(options.capacity));
      packets.fetch_add(1);
      auto& value = f->value;
      bytes.fetch_add(value.payload_bytes());
      // Steady clocks of two hosts share no origin: a latency across them would be noise.
      if (!p.same_host) value.created_ns = steady_now_ns();
      queue.push_back({id, make_shared_packet(std::move(value))});
      return;
    }
    if (auto* c = std::get_if<wire::credit>(&frame)) {
      if (role != edge_role::sends_data)
        return refuse(id, p.name, fmt::format("{} sent credit to {}, which receives data",
                                              p.name, options.endpoint));
      if (c->edge_id != options.edge)
        return refuse(id, p.name, wrong_edge(p.name, "credit", c->edge_id));
      constexpr std::uint64_t most = std::uint64_t{1} << 32;
      p.available = std::min(most, p.available + c->count);
      if (p.initial == 0) p.initial = p.available;
      return;
    }
    if (std::holds_alternative<wire::heartbeat>(frame)) return;
    if (auto* b = std::get_if<wire::bye>(&frame)) {
      log(fmt::format("{} said bye: {}", p.name, b->reason));
      const bool lost = role == edge_role::sends_data && p.in_flight() > 0;
      peers.erase(id);
      if (role == edge_role::receives_data)
        ++byes;
      else if (!options.bind && (lost || !leaving))
        fail(fmt::format("{}: the receiver left ({}) before this stage's stream ended",
                         options.endpoint, b->reason));
      return;
    }
    if (auto* e = std::get_if<wire::peer_error>(&frame))
      return fail(fmt::format("{} gave up on this stage: {}", p.name, e->message));
    refuse(id, p.name, fmt::format("{} sent a second hello", p.name));
  }

  std::string wrong_edge(const std::string& name, std::string_view what,
                         std::uint32_t found) const {
    return fmt::format("{} sent a {} for edge {}, this end is edge {}; both ends of an edge "
                       "need the same `edge` id",
                       name, what, found, options.edge);
  }

  static std::string_view kind_of(const wire::frame& frame) {
    constexpr std::string_view names[] = {"hello", "packet", "credit", "heartbeat", "bye", "error"};
    return names[frame.index()];
  }

  // The peer broke the protocol: it gets an error, is forgotten and logged once, and what it
  // sends later is refused too. A connecting channel has no other peer: it fails.
  void refuse(const std::string& id, const std::string& name, const std::string& reason) {
    refused.fetch_add(1);
    if (!options.bind) {
      send_to(id, wire::encode_frame(wire::peer_error{truncate(reason)}, options.limits));
      return fail(reason);
    }
    const bool first = refused_peers.find(id) == nullptr;
    if (first) {
      refused_peers.add(id, truncate(reason));
      log(fmt::format("refused {}: {}", name, reason));
    }
    peers.erase(id);
    send_to(id, wire::encode_frame(wire::peer_error{truncate(reason)}, options.limits));
  }

  std::string truncate(const std::string& text) const {
    return text.size() <= options.limits.max_string_bytes
               ? text
               : text.substr(0, options.limits.max_string_bytes);
  }

  // ---- sending ----

  send_result send_to(const std::string& id, const wire::encoded_message& message) {
    read_to_empty = false;
    if (options.bind) {
      zmq_msg_t identity;
      zmq_msg_init_size(&identity, id.size());
      std::memcpy(zmq_msg_data(&identity), id.data(), id.size());
      if (zmq_msg_send(&identity, socket, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0) {
        const int error = zmq_errno();
        zmq_msg_close(&identity);
        if (error == EAGAIN || error == EINTR) return send_result::busy;
        if (error == EHOSTUNREACH) return send_result::gone;
        throw std::runtime_error(fmt::format("cannot send: {}", zmq_strerror(error)));
      }
      // The identity is queued, so the rest of the message follows it without waiting.
      wire::send_message(socket, message, false);
    } else if (!wire::send_message(socket, message, true)) {
      return send_result::busy;
    }
    if (auto it = peers.find(id); it != peers.end()) it->second.sent = clock::now();
    return send_result::sent;
  }

  void say_hello() {
    if (send_to({}, wire::encode_frame(net->local_hello(), options.limits)) == send_result::sent)
      hello_sent = true;
  }

  void grant(const std::string& id, edge_peers::peer& p, std::uint64_t count) {
    if (send_to(id, wire::encode_frame(wire::credit{options.edge,
                                                    static_cast<std::uint32_t>(count)})) ==
        send_result::sent) {
      p.granted += count;
      p.owed -= std::min(p.owed, count);
    }
  }

  // Credits for taken packets go back in batches of half the capacity, so a sender faster than
  // its receiver costs one credit frame per batch, not one per take. A sender never starves on a
  // batch: one out of credit has `capacity` packets here, and once they are taken they are a
  // batch and more. What is owed short of a batch goes back after credit_linger of quiet.
  void give_credit_back() {
    const std::uint64_t batch = std::max<std::uint64_t>(1, options.capacity / 2);
    const auto now = clock::now();
    for (auto& [id, p] : peers)
      if (p.owed > 0 && (p.owed >= batch || now - p.packet >= credit_linger))
        grant(id, p, p.owed);
  }

  // Sends `message` to the next receiver with credit after the one served last; false when
  // none has credit or its queue is full (busy).
  bool send_packet(const wire::encoded_message& message, bool& busy) {
    busy = false;
    auto it = peers.upper_bound(next_receiver);
    for (std::size_t tried = 0; tried < peers.size(); ++tried, ++it) {
      if (it == peers.end()) it = peers.begin();
      auto& [id, p] = *it;
      if (p.available == 0) continue;
      const auto result = send_to(id, message);
      if (result == send_result::gone) {
        fail(fmt::format("{} disconnected without a bye, {} packets in flight (sent, not "
                         "credited back)",
                         p.name, p.in_flight()));
        throw_failure();
      }
      if (result == send_result::busy) {
        busy = true;
        continue;
      }
      --p.available;
      ++p.packets_sent;
      next_receiver = id;
      raise_peak(in_flight());
      packets.fetch_add(1);
      std::uint64_t sent_bytes = 0;
      for (const auto& payload : message.payloads) sent_bytes += payload.size();
      bytes.fetch_add(sent_bytes);
      return true;
    }
    return false;
  }

  // Sender: packets sent and not yet credited back, over all receivers.
  std::uint64_t in_flight() const {
    std::uint64_t flight = 0;
    for (const auto& [id, p] : peers) flight += p.in_flight();
    return flight;
  }

  void raise_peak(std::uint64_t value) {
    auto peak = in_flight_peak.load();
    while (value > peak && !in_flight_peak.compare_exchange_weak(peak, value)) {
    }
  }

  // ---- timers ----

  // A round's duties besides reading: the hello (a connecting channel), credit that lingers,
  // heartbeats and silence.
  void tend() {
    if (!options.bind && !hello_sent) say_hello();
    if (role == edge_role::receives_data) give_credit_back();
    keep_alive();
  }

  void keep_alive() {
    const auto now = clock::now();
    for (auto& [id, p] : peers) {
      if (now - p.heard >= options.silence) {
        return fail(fmt::format(
            "{} was silent for {} ms (silence_ms = {}): taken for dead, with {} packets in "
            "flight (sent, not credited back); check that its process runs and that the "
            "network between the two is up",
            p.name, ms(now - p.heard), options.silence.count(),
            role == edge_role::sends_data ? p.in_flight() : p.held(options.capacity)));
      }
      if (now - p.sent >= options.heartbeat)
        send_to(id, wire::encode_frame(wire::heartbeat{steady_now_ns()}));
    }
    if (!options.bind && peers.empty() && !warned_unanswered && !answered &&
        now - started >= options.silence) {
      warned_unanswered = true;
      log(fmt::format("no answer from {} after {} ms, still trying; check that the binding "
                      "side runs{}",
                      options.endpoint, ms(now - started),
                      net->secured().is_insecure()
                          ? " and is insecure too"
                          : ", that server_key is its public key and that this node's "
                            "NAME.pub is in its allow-list folder"));
    }
  }
};

edge_channel::edge_channel(edge_role role, edge_options options, std::shared_ptr<network> net)
    : impl_(std::make_unique<impl>(role, std::move(options), std::move(net))) {
  impl_->open();
}

edge_channel::~edge_channel() {
  {
    std::lock_guard lock(impl_->mutex);
    impl_->stopping = true;
  }
  impl_->wake();
  if (impl_->thread.joinable()) impl_->thread.join();
  impl_->close_socket();
}

std::vector<packet_ptr> edge_channel::take(std::chrono::milliseconds wait) {
  auto& c = *impl_;
  const auto deadline = clock::now() + wait;
  std::unique_lock lock(c.mutex);
  for (;;) {
    if (!c.failure.empty()) c.throw_failure();
    if (!c.queue.empty()) break;
    c.guarded([&] { c.receive_waiting(lock, deadline); });
    if (c.queue.empty() && c.failure.empty() && clock::now() >= deadline) break;
  }
  if (!c.failure.empty()) c.throw_failure();
  std::vector<packet_ptr> taken;
  taken.reserve(c.queue.size());
  for (auto& arrival : c.queue) {
    if (auto it = c.peers.find(arrival.peer); it != c.peers.end()) ++it->second.owed;
    taken.push_back(std::move(arrival.value));
  }
  c.queue.clear();
  if (!c.leaving) c.guarded([&] { c.give_credit_back(); });
  return taken;
}

std::size_t edge_channel::byes() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->byes;
}

bool edge_channel::queue_empty() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->queue.empty();
}

bool edge_channel::push(const packet& p, std::chrono::milliseconds wait) {
  auto& c = *impl_;
  auto message = wire::encode_packet(p, c.options.edge, c.options.limits);
  const auto began = clock::now();
  const auto deadline = began + wait;
  std::unique_lock lock(c.mutex);
  bool sent = false;
  for (;;) {
    if (!c.failure.empty()) c.throw_failure();
    bool busy = false;
    sent = c.guarded([&] {
      // Credit that came in is read only when the credit known runs out: a receive that finds
      // nothing costs ZeroMQ two system calls. What this call leaves unread, the channel's thread
      // reads at its next round.
      if (c.send_packet(message, busy)) return true;
      if (c.read_to_empty) return false;  // nothing came in since the socket was read empty
      c.receive_available();
      return c.send_packet(message, busy);
    });
    if (sent || clock::now() >= deadline) break;
    c.wait_for_news(lock, busy ? std::min(deadline, clock::now() + busy_retry) : deadline);
  }
  c.credit_wait_ns.fetch_add(static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(clock::now() - began).count()));
  return sent;
}

bool edge_channel::drained(std::chrono::milliseconds wait) {
  auto& c = *impl_;
  const auto deadline = clock::now() + wait;
  std::unique_lock lock(c.mutex);
  auto done = [&] { return c.in_flight() == 0 && (c.options.bind || c.answered); };
  for (;;) {
    if (!c.failure.empty()) c.throw_failure();
    c.guarded([&] { c.settle(); });
    if (done() || !c.failure.empty() || clock::now() >= deadline) break;
    c.wait_for_news(lock, deadline);
  }
  if (!c.failure.empty()) c.throw_failure();
  return done();
}

void edge_channel::leave(const std::string& reason, std::chrono::milliseconds wait) {
  auto& c = *impl_;
  const auto deadline = clock::now() + wait;
  std::unique_lock lock(c.mutex);
  if (!c.failure.empty() || c.leaving) return;
  c.leaving = true;
  const auto message = wire::encode_frame(wire::bye{reason}, c.options.limits);
  std::vector<std::string> pending;
  for (const auto& [id, p] : c.peers) pending.push_back(id);
  try {
    bool said = false;
    for (;;) {
      for (auto it = pending.begin(); it != pending.end();) {
        const auto result = c.send_to(*it, message);
        said = said || result == send_result::sent;
        it = result == send_result::busy ? std::next(it) : pending.erase(it);
      }
      if (pending.empty() || clock::now() >= deadline) break;
      c.wait_for_news(lock, std::min(deadline, clock::now() + busy_retry));
    }
    if (!said) return;
    // What arrives meanwhile is read and dropped (see bye_grace).
    const auto until = std::min(deadline, clock::now() + bye_grace);
    while (c.failure.empty() && clock::now() < until) {
      c.receive_available();
      c.wait_for_news(lock, until);
    }
  } catch (const std::exception& e) {
    c.fail(fmt::format("{}: {}", c.options.endpoint, e.what()));
  }
}

void edge_channel::check() const {
  std::lock_guard lock(impl_->mutex);
  if (!impl_->failure.empty()) impl_->throw_failure();
}

edge_counts edge_channel::counts() const {
  edge_counts c;
  c.packets = impl_->packets.load();
  c.bytes = impl_->bytes.load();
  c.refused_frames = impl_->refused.load();
  c.credit_wait_ns = impl_->credit_wait_ns.load();
  c.in_flight_peak = impl_->in_flight_peak.load();
  c.peers = impl_->peers_seen.load();
  return c;
}

const std::string& edge_channel::endpoint() const { return impl_->options.endpoint; }

}  // namespace loom
