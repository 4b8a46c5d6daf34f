// The shared-memory channel (see shm_channel.hpp): the wire encoding, the sender with its
// reader thread (credits and releases come back on the same socket) and the receiver with its
// segment cache.
//
// Why `forget` comes from the sender: a segment's fd is passed once, and later descriptors name
// the segment by id. If the receiver unmapped a segment on its own when its last view went, a
// descriptor the sender had already sent without the fd could arrive for a segment that is gone.
// So the sender decides, and tells the receiver on the same ordered socket, before any later
// descriptor of that segment (which then carries the fd again). It forgets a segment once no
// descriptor of it is outstanding and either the segment is gone in this process (checked on
// every send and reply and ten times a second) or room is needed for a new one (the least
// recently sent goes). Until then the receiver keeps its mapping: the producer's pool hands the
// same segments out again and again, and each one that comes back costs the receiver no fd, no
// mmap and no page faults (on a VM, a fault on shared memory costs tens of µs).
#include "connectors/shm_channel.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/mman.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <fstream>
#include <mutex>
#include <sstream>
#include <thread>
#include <unordered_map>
#include <unordered_set>

#include <fmt/format.h>

namespace loom {
namespace {

using clock_type = std::chrono::steady_clock;
using deadline_type = std::optional<clock_type::time_point>;

constexpr std::size_t max_fds_per_message = 253;  // SCM_MAX_FD
constexpr std::size_t own_segment_from = 256 * 1024;  // buffer::allocate's shareable size

std::string errno_text(int error) { return std::strerror(error); }

// -- encoding: native byte order, both ends run on the same host ---------------------------------

void put_u32(std::vector<std::byte>& out, std::uint32_t v) {
  const auto* p = reinterpret_cast<const std::byte*>(&v);
  out.insert(out.end(), p, p + sizeof v);
}
void put_u64(std::vector<std::byte>& out, std::uint64_t v) {
  const auto* p = reinterpret_cast<const std::byte*>(&v);
  out.insert(out.end(), p, p + sizeof v);
}
void put_string(std::vector<std::byte>& out, const std::string& s) {
  put_u32(out, static_cast<std::uint32_t>(s.size()));
  const auto* p = reinterpret_cast<const std::byte*>(s.data());
  out.insert(out.end(), p, p + s.size());
}

// Reads fields off a received message; every read names its field when the message ends early.
class field_reader {
 public:
  field_reader(const std::byte* data, std::size_t size) : at_(data), left_(size) {}

  std::uint32_t u32(const char* field) { return scalar<std::uint32_t>(field); }
  std::uint64_t u64(const char* field) { return scalar<std::uint64_t>(field); }
  std::int64_t i64(const char* field) { return scalar<std::int64_t>(field); }
  std::string string(const char* field) {
    const auto length = u32(field);
    need(length, field);
    std::string s(reinterpret_cast<const char*>(at_), length);
    at_ += length;
    left_ -= length;
    return s;
  }
  std::size_t left() const { return left_; }

 private:
  template <class T>
  T scalar(const char* field) {
    need(sizeof(T), field);
    T v;
    std::memcpy(&v, at_, sizeof v);
    at_ += sizeof v;
    left_ -= sizeof v;
    return v;
  }
  void need(std::size_t bytes, const char* field) const {
    if (bytes > left_)
      throw shm_channel_error(fmt::format(
          "shm channel: packet header ends inside its {} ({} bytes needed, {} left); the sender "
          "is broken or hostile",
          field, bytes, left_));
  }

  const std::byte* at_;
  std::size_t left_;
};

std::uint32_t read_kind(const std::byte* message, std::size_t size) {
  if (size < sizeof(std::uint32_t))
    throw shm_channel_error(
        fmt::format("shm channel: a message of {} bytes is too short to have a kind", size));
  std::uint32_t kind;
  std::memcpy(&kind, message, sizeof kind);
  return kind;
}

// A count read off the wire, refused above `limit` before anything is sized by it.
std::uint32_t bounded_count(field_reader& in, const char* field, std::size_t limit) {
  const auto count = in.u32(field);
  if (count > limit)
    throw shm_channel_error(fmt::format(
        "shm channel: {} is {}, over the limit of {}; raise shm_channel_options on the receiver "
        "if the sender is right",
        field, count, limit));
  return count;
}

// -- small messages -------------------------------------------------------------------------------

struct receiver_limits {
  std::uint32_t max_tensors = 0, max_metadata = 0, max_header_bytes = 0, max_segments = 0;
  std::uint32_t inline_tensor_bytes = 0, inline_packet_bytes = 0;
};

std::uint32_t narrow(std::size_t v) {
  return static_cast<std::uint32_t>(std::min<std::size_t>(v, UINT32_MAX));
}

std::vector<std::byte> grant_message(std::uint32_t credits, const shm_channel_options& o) {
  std::vector<std::byte> out;
  put_u32(out, static_cast<std::uint32_t>(shm_wire::kind::grant));
  put_u32(out, credits);
  for (auto v : {o.max_tensors, o.max_metadata, o.max_header_bytes, o.max_segments,
                 o.inline_tensor_bytes, o.inline_packet_bytes})
    put_u32(out, narrow(v));
  return out;
}

std::vector<std::byte> id_list_message(shm_wire::kind kind, const std::vector<std::uint64_t>& ids) {
  std::vector<std::byte> out;
  put_u32(out, static_cast<std::uint32_t>(kind));
  put_u32(out, static_cast<std::uint32_t>(ids.size()));
  for (auto id : ids) put_u64(out, id);
  return out;
}

// Sends one whole message; false when the socket would block (only with MSG_DONTWAIT).
bool send_message(int fd, const void* data, std::size_t size, int flags, int& error) {
  for (;;) {
    if (::send(fd, data, size, flags | MSG_NOSIGNAL) >= 0) return true;
    if (errno == EINTR) continue;
    error = errno;
    return false;
  }
}

// Waits until `fd` is ready for `events` or the deadline passes; false on timeout.
bool wait_ready(int fd, short events, deadline_type deadline) {
  for (;;) {
    int timeout_ms = -1;
    if (deadline) {
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(*deadline - clock_type::now());
      timeout_ms = static_cast<int>(std::max<std::int64_t>(0, left.count()));
    }
    pollfd p{fd, events, 0};
    const int ready = ::poll(&p, 1, timeout_ms);
    if (ready > 0) return true;
    if (ready == 0) return false;
    if (errno != EINTR) return true;  // let the following call report the error
  }
}

struct owned_fd {
  int fd = -1;
  explicit owned_fd(int f) : fd(f) {}
  owned_fd(owned_fd&& o) noexcept : fd(std::exchange(o.fd, -1)) {}
  owned_fd& operator=(owned_fd&&) = delete;
  ~owned_fd() {
    if (fd >= 0) ::close(fd);
  }
};

}  // namespace

// -- the packet header ----------------------------------------------------------------------------

namespace shm_wire {

void encode_packet(const packet_header& h, std::vector<std::byte>& out) {
  put_u32(out, static_cast<std::uint32_t>(kind::packet));
  const std::size_t length_at = out.size();
  put_u32(out, 0);
  const std::size_t start = out.size();
  put_u64(out, h.stream_id);
  put_u64(out, h.sequence);
  put_u64(out, static_cast<std::uint64_t>(h.timestamp_us));
  put_u64(out, static_cast<std::uint64_t>(h.created_ns));
  put_u32(out, static_cast<std::uint32_t>(h.forget.size()));
  for (auto id : h.forget) put_u64(out, id);
  put_u32(out, static_cast<std::uint32_t>(h.tensors.size()));
  for (const auto& t : h.tensors) {
    put_string(out, t.name);
    put_u32(out, t.type);
    put_u32(out, static_cast<std::uint32_t>(t.shape.size()));
    for (auto d : t.shape) put_u64(out, static_cast<std::uint64_t>(d));
    for (auto s : t.strides) put_u64(out, static_cast<std::uint64_t>(s));
    put_u64(out, t.size);
    put_u32(out, (t.shared ? 1u : 0u) | (t.carries_fd ? 2u : 0u));
    if (t.shared) {
      put_u64(out, t.segment_id);
      put_u64(out, t.segment_size);
      put_u64(out, t.offset);
      put_u64(out, t.token);
    } else {
      put_u64(out, t.inline_offset);
    }
  }
  put_u32(out, static_cast<std::uint32_t>(h.metadata.size()));
  for (const auto& [key, value] : h.metadata) {
    put_string(out, key);
    put_string(out, value);
  }
  const auto length = static_cast<std::uint32_t>(out.size() - start);
  std::memcpy(out.data() + length_at, &length, sizeof length);
}

packet_header decode_packet(const std::byte* message, std::size_t size,
                            const shm_channel_options& limits, std::size_t& inline_start) {
  field_reader prefix(message, size);
  if (prefix.u32("message kind") != static_cast<std::uint32_t>(kind::packet))
    throw shm_channel_error("shm channel: decode_packet was given a message that is no packet");
  const auto length = prefix.u32("header length");
  if (length > limits.max_header_bytes || length > prefix.left())
    throw shm_channel_error(fmt::format(
        "shm channel: packet header of {} bytes in a message of {} (limit {} bytes, "
        "max_header_bytes)",
        length, size, limits.max_header_bytes));
  inline_start = 2 * sizeof(std::uint32_t) + length;
  field_reader in(message + 2 * sizeof(std::uint32_t), length);

  packet_header h;
  h.stream_id = in.u64("stream id");
  h.sequence = in.u64("sequence");
  h.timestamp_us = in.i64("timestamp");
  h.created_ns = in.i64("creation time");
  h.forget.resize(bounded_count(in, "forget count", limits.max_segments));
  for (auto& id : h.forget) id = in.u64("forgotten segment id");
  h.tensors.resize(bounded_count(in, "tensor count", limits.max_tensors));
  for (auto& t : h.tensors) {
    t.name = in.string("tensor name");
    t.type = in.u32("tensor dtype");
    const auto rank = bounded_count(in, "tensor rank", dims::max_rank);
    t.shape.resize(rank);
    t.strides.resize(rank);
    for (auto& d : t.shape) d = in.i64("tensor shape");
    for (auto& s : t.strides) s = in.i64("tensor strides");
    t.size = in.u64("tensor size");
    const auto flags = in.u32("tensor flags");
    if (flags > 3)
      throw shm_channel_error(fmt::format("shm channel: tensor '{}' has unknown flags {:#x}",
                                          t.name, flags));
    t.shared = (flags & 1u) != 0;
    t.carries_fd = (flags & 2u) != 0;
    if (t.carries_fd && !t.shared)
      throw shm_channel_error(fmt::format(
          "shm channel: inline tensor '{}' claims to carry a segment's file descriptor", t.name));
    if (t.shared) {
      t.segment_id = in.u64("segment id");
      t.segment_size = in.u64("segment size");
      t.offset = in.u64("offset in segment");
      t.token = in.u64("release token");
    } else {
      t.inline_offset = in.u64("inline offset");
    }
  }
  h.metadata.resize(bounded_count(in, "metadata count", limits.max_metadata));
  for (auto& [key, value] : h.metadata) {
    key = in.string("metadata key");
    value = in.string("metadata value");
  }
  if (in.left() != 0)
    throw shm_channel_error(fmt::format(
        "shm channel: {} bytes follow the last field of the packet header", in.left()));
  return h;
}

}  // namespace shm_wire

// -- sockets --------------------------------------------------------------------------------------

shm_socket& shm_socket::operator=(shm_socket&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = std::exchange(other.fd_, -1);
  }
  return *this;
}

shm_socket::~shm_socket() {
  if (fd_ >= 0) ::close(fd_);
}

std::pair<shm_socket, shm_socket> shm_socket::pair() {
  int fds[2];
  if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, fds) != 0)
    throw shm_channel_error("shm channel: socketpair failed: " + errno_text(errno));
  return {shm_socket(fds[0]), shm_socket(fds[1])};
}

namespace {

sockaddr_un socket_address(const std::string& path) {
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof address.sun_path)
    throw shm_channel_error(fmt::format(
        "shm channel: socket path '{}' must have 1 to {} characters (a unix socket's limit)",
        path, sizeof address.sun_path - 1));
  std::memcpy(address.sun_path, path.c_str(), path.size() + 1);
  return address;
}

}  // namespace

shm_socket shm_socket::connect(const std::string& path) {
  const auto address = socket_address(path);
  shm_socket s(::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0));
  if (s.fd() < 0) throw shm_channel_error("shm channel: socket failed: " + errno_text(errno));
  if (::connect(s.fd(), reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0)
    throw shm_channel_error(fmt::format(
        "shm channel: cannot connect to {}: {} (is the receiving process listening there?)", path,
        errno_text(errno)));
  return s;
}

namespace {

// Whether a socket of this network namespace bound to `path` is listening, read from
// /proc/net/unix: asked before probing the path by connecting to it, since a listening
// shm_receiver's owner would accept that probe as its sender.
bool listening_here(const std::string& path) {
  std::ifstream table("/proc/net/unix");
  std::string line;
  std::getline(table, line);  // the column names
  while (std::getline(table, line)) {
    const auto at = line.size() > path.size() ? line.size() - path.size() : 0;
    if (at == 0 || line[at - 1] != ' ' || line.compare(at, path.size(), path) != 0) continue;
    // Num RefCount Protocol Flags ...: Flags has __SO_ACCEPTCON (0x10000) while listening.
    std::istringstream fields(line);
    std::string num, refcount, protocol, flags;
    fields >> num >> refcount >> protocol >> flags;
    if (std::stoul(flags, nullptr, 16) & 0x10000) return true;
  }
  return false;
}

}  // namespace

shm_listener::shm_listener(std::string path) : path_(std::move(path)) {
  const auto address = socket_address(path_);
  if (listening_here(path_))
    throw shm_channel_error(fmt::format(
        "shm channel: cannot listen on {}: another process listens there", path_));
  fd_ = ::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  if (fd_ < 0) throw shm_channel_error("shm channel: socket failed: " + errno_text(errno));
  // A socket file nobody listens on was left by a process that died: it goes. One somebody
  // listens on, or anything else at the path, is not ours to remove (bind then fails). Only a
  // listener in another network namespace is not in /proc/net/unix and gets to see the probe.
  struct stat existing {};
  if (::lstat(path_.c_str(), &existing) == 0 && S_ISSOCK(existing.st_mode)) {
    const int probe = ::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    if (probe >= 0 &&
        ::connect(probe, reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0 &&
        errno == ECONNREFUSED)
      ::unlink(path_.c_str());
    if (probe >= 0) ::close(probe);
  }
  if (::bind(fd_, reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0 ||
      ::listen(fd_, 16) != 0) {
    const int error = errno;
    ::close(fd_);
    throw shm_channel_error(
        fmt::format("shm channel: cannot listen on {}: {}", path_, errno_text(error)));
  }
}

shm_listener::~shm_listener() {
  ::close(fd_);
  ::unlink(path_.c_str());
}

std::optional<shm_socket> shm_listener::accept(std::chrono::milliseconds timeout) {
  const auto deadline = clock_type::now() + timeout;
  while (wait_ready(fd_, POLLIN, deadline)) {
    shm_socket peer(::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC));
    if (peer.fd() < 0) {
      if (errno == EINTR || errno == EAGAIN || errno == ECONNABORTED) continue;
      throw shm_channel_error(
          fmt::format("shm channel: accept on {} failed: {}", path_, errno_text(errno)));
    }
    ucred credentials{};
    socklen_t length = sizeof credentials;
    if (::getsockopt(peer.fd(), SOL_SOCKET, SO_PEERCRED, &credentials, &length) == 0 &&
        credentials.uid == ::geteuid())
      return peer;
  }
  return std::nullopt;
}

// -- sender ---------------------------------------------------------------------------------------

struct shm_sender::state {
  struct held_buffer {
    buffer memory;
    std::uint64_t segment_id;
  };

  // A segment the receiver has mapped.
  struct known_segment {
    std::size_t outstanding = 0;  // descriptors not yet released
    std::weak_ptr<const void> alive;
    std::uint64_t last_sent = 0;  // packet number, for choosing which to forget
  };

  // What one tensor becomes on the wire, decided before the state is locked.
  struct plan {
    const named_tensor* source;
    std::size_t bytes;
    bool shared;
    bool staged;
    buffer memory;  // shared: the buffer to hold until released (a staged copy or the tensor's)
    shared_region region;
  };

  shm_socket socket;
  shm_channel_options options;
  std::size_t message_limit = 0;  // the largest message this socket sends (its SO_SNDBUF)

  std::mutex send_mutex;  // one send at a time, so that credits and plans stay consistent
  mutable std::mutex mutex;
  std::condition_variable changed;
  bool open = true;
  bool finished = false;  // finish() said so: nothing more is sent
  std::string why_closed;
  bool limits_known = false;
  receiver_limits peer;
  std::uint32_t credits = 0;
  std::unordered_map<std::uint64_t, held_buffer> held;          // by release token
  std::unordered_map<std::uint64_t, known_segment> peer_segments;  // by id
  std::vector<std::uint64_t> pending_forget;
  std::uint64_t next_token = 1;
  shm_sender_stats counts;
  std::vector<std::byte> header_bytes;

  std::thread reader;

  state(shm_socket s, shm_channel_options o) : socket(std::move(s)), options(o) {
    // Room for the largest packet message the receiver's limits would allow; the kernel caps
    // the request at net.core.wmem_max, and the packets are then split to what it gave.
    int wanted = static_cast<int>(std::min<std::size_t>(
        INT32_MAX / 2, 2 * (options.max_header_bytes + options.inline_packet_bytes + 4096)));
    ::setsockopt(socket.fd(), SOL_SOCKET, SO_SNDBUF, &wanted, sizeof wanted);
    int got = 0;
    socklen_t length = sizeof got;
    ::getsockopt(socket.fd(), SOL_SOCKET, SO_SNDBUF, &got, &length);
    message_limit = got > 64 ? static_cast<std::size_t>(got) - 64 : 0;
    reader = std::thread([this] { read_replies(); });
  }

  ~state() {
    ::shutdown(socket.fd(), SHUT_RDWR);
    reader.join();
  }

  // Everything still held is dropped; the receiver may yet read it (we cannot know), so those
  // segments never go back to the pool. Called with `mutex` held; the buffers are returned so
  // that they are released after it is unlocked.
  std::vector<held_buffer> close_locked(std::string why) {
    std::vector<held_buffer> dropped;
    if (open) why_closed = std::move(why);
    open = false;
    for (auto& [token, h] : held) {
      h.memory.withhold_from_pool();
      dropped.push_back(std::move(h));
    }
    held.clear();
    peer_segments.clear();
    pending_forget.clear();
    counts.held_buffers = 0;
    changed.notify_all();
    return dropped;
  }

  // Segments gone in this process with nothing outstanding: the receiver may unmap them.
  void collect_dead_locked() {
    for (auto it = peer_segments.begin(); it != peer_segments.end();) {
      if (it->second.outstanding == 0 && it->second.alive.expired()) {
        pending_forget.push_back(it->first);
        it = peer_segments.erase(it);
      } else {
        ++it;
      }
    }
  }

  // Makes room for `needed` more segments by forgetting idle ones, least recently sent first,
  // sparing those `in_use` names; false when not enough are idle.
  bool make_room_locked(std::size_t needed, std::size_t limit,
                        const std::unordered_set<std::uint64_t>& in_use) {
    if (peer_segments.size() + needed <= limit) return true;
    std::vector<std::pair<std::uint64_t, std::uint64_t>> idle;  // last sent, id
    for (const auto& [id, k] : peer_segments)
      if (k.outstanding == 0 && !in_use.count(id)) idle.emplace_back(k.last_sent, id);
    if (peer_segments.size() + needed > limit + idle.size()) return false;
    std::sort(idle.begin(), idle.end());
    for (std::size_t i = 0; peer_segments.size() + needed > limit; ++i) {
      pending_forget.push_back(idle[i].second);
      peer_segments.erase(idle[i].second);
    }
    return true;
  }

  void flush_forget_locked() {
    if (pending_forget.empty() || !open) return;
    const auto message = id_list_message(shm_wire::kind::forget, pending_forget);
    int error = 0;
    if (send_message(socket.fd(), message.data(), message.size(), MSG_DONTWAIT, error))
      pending_forget.clear();
    // Would block: the next packet carries them.
  }

  void read_replies() {
    std::vector<std::byte> message(64 * 1024);
    for (;;) {
      // Wakes ten times a second without replies, to tell the receiver of segments that died.
      if (wait_ready(socket.fd(), POLLIN, clock_type::now() + std::chrono::milliseconds(100))) {
        const auto n = ::recv(socket.fd(), message.data(), message.size(), MSG_DONTWAIT);
        if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)) continue;
        std::vector<held_buffer> dropped;  // released after the lock
        std::lock_guard lock(mutex);
        if (n <= 0) {
          dropped = close_locked(n == 0 ? "the receiver closed the connection (its process ended "
                                          "or it destroyed its shm_receiver)"
                                        : "reading from the receiver failed: " + errno_text(errno));
          return;
        }
        try {
          handle_reply(message.data(), static_cast<std::size_t>(n), dropped);
        } catch (const shm_channel_error& e) {
          for (auto& h : close_locked(e.what())) dropped.push_back(std::move(h));
          ::shutdown(socket.fd(), SHUT_RDWR);
          return;
        }
        changed.notify_all();
      }
      std::lock_guard lock(mutex);
      if (!open) continue;
      collect_dead_locked();
      flush_forget_locked();
    }
  }

  void handle_reply(const std::byte* data, std::size_t size, std::vector<held_buffer>& dropped) {
    field_reader in(data, size);
    const auto kind = in.u32("message kind");
    if (kind == static_cast<std::uint32_t>(shm_wire::kind::grant)) {
      const auto more = in.u32("credits");
      peer.max_tensors = std::min<std::uint32_t>(in.u32("max tensors"), max_fds_per_message);
      peer.max_metadata = in.u32("max metadata");
      peer.max_header_bytes = in.u32("max header bytes");
      peer.max_segments = in.u32("max segments");
      peer.inline_tensor_bytes = in.u32("inline tensor bytes");
      peer.inline_packet_bytes = in.u32("inline packet bytes");
      limits_known = true;
      credits = static_cast<std::uint32_t>(std::min<std::uint64_t>(
          std::uint64_t{credits} + more, std::uint64_t{1} << 20));
    } else if (kind == static_cast<std::uint32_t>(shm_wire::kind::release)) {
      const auto count = bounded_count(in, "release count", size / sizeof(std::uint64_t));
      for (std::uint32_t i = 0; i < count; ++i) {
        const auto token = in.u64("release token");
        auto found = held.find(token);
        if (found == held.end())
          throw shm_channel_error(fmt::format(
              "shm channel: the receiver released token {}, which is not held", token));
        --peer_segments[found->second.segment_id].outstanding;
        dropped.push_back(std::move(found->second));
        held.erase(found);
      }
      counts.held_buffers = held.size();
    } else if (kind == static_cast<std::uint32_t>(shm_wire::kind::closing)) {
      if (open) why_closed = "the receiver closed the channel";
      open = false;
    } else {
      throw shm_channel_error(
          fmt::format("shm channel: the receiver sent a message of unknown kind {:#x}", kind));
    }
  }

  // Decides inline, shared or staged for every tensor. Staging (copying a large tensor that is
  // not in shareable memory into a fresh segment) happens here, before the state is locked.
  std::vector<plan> make_plans(const packet& p, const receiver_limits& limits) {
    const std::size_t tensor_limit =
        std::min<std::size_t>(options.inline_tensor_bytes, limits.inline_tensor_bytes);
    const std::size_t room = message_limit > 2 * sizeof(std::uint32_t) + limits.max_header_bytes
                                 ? message_limit - 2 * sizeof(std::uint32_t) - limits.max_header_bytes
                                 : 0;
    const std::size_t packet_limit = std::min<std::size_t>(
        {options.inline_packet_bytes, std::size_t{limits.inline_packet_bytes}, room});
    std::vector<plan> plans;
    plans.reserve(p.tensors.size());
    std::size_t inline_used = 0;
    for (const auto& t : p.tensors) {
      const std::size_t bytes = t.value.nbytes();
      if (bytes <= tensor_limit && inline_used + bytes <= packet_limit) {
        inline_used += bytes;
        plans.push_back({&t, bytes, false, false, {}, {}});
        continue;
      }
      auto region = t.value.memory().shareable();
      if (region && region->offset + bytes <= region->segment_size) {
        plans.push_back({&t, bytes, true, false, t.value.memory(), *region});
        continue;
      }
      auto staged = buffer::allocate(std::max(bytes, own_segment_from));
      std::memcpy(staged.data(), t.value.raw(), bytes);
      region = staged.shareable();
      if (!region)
        throw shm_channel_error(fmt::format(
            "shm channel: cannot stage tensor '{}' ({} bytes) in shared memory: no memfd could be "
            "made (out of file descriptors? raise `ulimit -n`)",
            t.name, bytes));
      plans.push_back({&t, bytes, true, true, std::move(staged), *region});
    }
    return plans;
  }

  template <class Predicate>
  bool wait_until(std::unique_lock<std::mutex>& lock, deadline_type deadline, Predicate ready) {
    if (!deadline) {
      changed.wait(lock, ready);
      return true;
    }
    return changed.wait_until(lock, *deadline, ready);
  }

  // The message goes after every packet sent (one socket, in order); no credit needed, only
  // room in the socket, which a receiver that stopped reading may never make.
  bool finish(deadline_type deadline) {
    std::unique_lock send_lock(send_mutex);
    std::unique_lock lock(mutex);
    std::vector<std::byte> message;
    put_u32(message, static_cast<std::uint32_t>(shm_wire::kind::finished));
    for (;;) {
      if (!open) throw shm_channel_error("shm channel: cannot end the stream: " + why_closed);
      if (finished) return true;
      int error = 0;
      if (send_message(socket.fd(), message.data(), message.size(), MSG_DONTWAIT, error)) {
        finished = true;
        return true;
      }
      if (error != EAGAIN && error != EWOULDBLOCK && error != ENOBUFS)
        throw shm_channel_error("shm channel: cannot end the stream: " + errno_text(error));
      lock.unlock();
      const bool writable = wait_ready(socket.fd(), POLLOUT, deadline);
      lock.lock();
      if (!writable) return false;
    }
  }

  bool send(const packet& p, deadline_type deadline) {
    for (const auto& t : p.tensors)
      if (t.value.device() != "cpu")
        throw shm_channel_error(fmt::format(
            "shm channel: tensor '{}' lives in '{}' memory; only host ('cpu') tensors cross "
            "processes: transfer it to the host first",
            t.name, t.value.device()));

    std::unique_lock send_lock(send_mutex);
    std::unique_lock lock(mutex);
    if (finished)
      throw shm_channel_error(fmt::format(
          "shm channel: packet {} sent after the stream was finished", p.sequence));
    if (!wait_until(lock, deadline, [&] { return !open || (limits_known && credits > 0); }))
      return false;
    if (!open) throw shm_channel_error("shm channel: cannot send: " + why_closed);
    const auto limits = peer;
    if (p.tensors.size() > limits.max_tensors || p.metadata.size() > limits.max_metadata)
      throw shm_channel_error(fmt::format(
          "shm channel: packet {} of stream {} has {} tensors and {} metadata entries; the "
          "receiver takes at most {} and {} (shm_channel_options on the receiving side)",
          p.sequence, p.stream_id, p.tensors.size(), p.metadata.size(), limits.max_tensors,
          limits.max_metadata));
    lock.unlock();

    auto plans = make_plans(p, limits);

    lock.lock();
    for (;;) {
      if (!open) throw shm_channel_error("shm channel: cannot send: " + why_closed);
      collect_dead_locked();
      // Segments the receiver must map for this packet, beyond those it has.
      std::unordered_set<std::uint64_t> named, fresh;
      for (const auto& plan : plans) {
        if (!plan.shared) continue;
        named.insert(plan.region.segment_id);
        if (!peer_segments.count(plan.region.segment_id)) fresh.insert(plan.region.segment_id);
      }
      if (named.size() > limits.max_segments)
        throw shm_channel_error(fmt::format(
            "shm channel: packet {} spans {} segments; the receiver maps at most {}", p.sequence,
            named.size(), limits.max_segments));
      if (!make_room_locked(fresh.size(), limits.max_segments, named)) {
        // Every mapped segment still has views: wait for the receiver to release some.
        auto fits = [&] {
          if (!open) return true;
          std::size_t idle = 0;
          for (const auto& [id, k] : peer_segments) idle += k.outstanding == 0 && !named.count(id);
          return peer_segments.size() + fresh.size() <= limits.max_segments + idle;
        };
        if (!wait_until(lock, deadline, fits)) return false;
        continue;
      }

      shm_wire::packet_header header;
      header.stream_id = p.stream_id;
      header.sequence = p.sequence;
      header.timestamp_us = p.timestamp_us;
      header.created_ns = p.created_ns;
      header.forget = pending_forget;
      header.metadata.assign(p.metadata.begin(), p.metadata.end());
      std::vector<iovec> pieces(1);
      std::vector<int> fds;
      std::unordered_set<std::uint64_t> passed;
      std::uint64_t inline_offset = 0;
      std::uint64_t token = next_token;
      for (const auto& plan : plans) {
        const auto& t = plan.source->value;
        shm_wire::tensor_entry e;
        e.name = plan.source->name;
        e.type = static_cast<std::uint32_t>(t.type());
        e.shape.assign(t.shape().begin(), t.shape().end());
        e.strides.assign(t.strides().begin(), t.strides().end());
        e.size = plan.bytes;
        e.shared = plan.shared;
        if (plan.shared) {
          e.segment_id = plan.region.segment_id;
          e.segment_size = plan.region.segment_size;
          e.offset = plan.region.offset;
          e.token = token++;
          e.carries_fd = fresh.count(e.segment_id) && passed.insert(e.segment_id).second;
          if (e.carries_fd) fds.push_back(plan.region.fd);
        } else {
          e.inline_offset = inline_offset;
          inline_offset += plan.bytes;
          if (plan.bytes > 0) pieces.push_back({t.raw(), plan.bytes});
        }
        header.tensors.push_back(std::move(e));
      }
      header_bytes.clear();
      shm_wire::encode_packet(header, header_bytes);
      if (header_bytes.size() - 2 * sizeof(std::uint32_t) > limits.max_header_bytes)
        throw shm_channel_error(fmt::format(
            "shm channel: packet {} needs a header of {} bytes; the receiver accepts {} "
            "(fewer or shorter tensor names and metadata, or a larger max_header_bytes)",
            p.sequence, header_bytes.size(), limits.max_header_bytes));
      pieces[0] = {header_bytes.data(), header_bytes.size()};

      std::vector<char> control(CMSG_SPACE(sizeof(int) * std::max<std::size_t>(fds.size(), 1)));
      msghdr message{};
      message.msg_iov = pieces.data();
      message.msg_iovlen = pieces.size();
      if (!fds.empty()) {
        message.msg_control = control.data();
        message.msg_controllen = CMSG_SPACE(sizeof(int) * fds.size());
        cmsghdr* c = CMSG_FIRSTHDR(&message);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
        std::memcpy(CMSG_DATA(c), fds.data(), sizeof(int) * fds.size());
      }
      const auto sent = ::sendmsg(socket.fd(), &message, MSG_DONTWAIT | MSG_NOSIGNAL);
      if (sent < 0) {
        const int error = errno;
        if (error == EINTR) continue;
        if (error == EAGAIN || error == EWOULDBLOCK || error == ENOBUFS) {
          lock.unlock();
          const bool writable = wait_ready(socket.fd(), POLLOUT, deadline);
          lock.lock();
          if (!writable) return false;
          continue;
        }
        std::vector<held_buffer> dropped =
            close_locked(fmt::format("sending to the receiver failed: {}", errno_text(error)));
        lock.unlock();
        dropped.clear();
        throw shm_channel_error(fmt::format("shm channel: cannot send packet {}: {}{}", p.sequence,
                                            errno_text(error),
                                            error == EMSGSIZE ? " (message over SO_SNDBUF)" : ""));
      }

      credits -= 1;
      pending_forget.clear();
      next_token = token;
      std::uint64_t shared = 0, copied = 0;
      for (std::size_t i = 0; i < plans.size(); ++i) {
        auto& plan = plans[i];
        const auto& e = header.tensors[i];
        (plan.shared && !plan.staged ? shared : copied) += plan.bytes;
        if (!plan.shared) continue;
        held.emplace(e.token, held_buffer{std::move(plan.memory), e.segment_id});
        auto& known = peer_segments[e.segment_id];
        ++known.outstanding;
        known.alive = plan.region.alive;
        known.last_sent = counts.packets;
      }
      counts.packets += 1;
      counts.segments_passed += fds.size();
      counts.shared_bytes += shared;
      counts.copied_bytes += copied;
      counts.held_buffers = held.size();
      return true;
    }
  }
};

shm_sender::shm_sender(shm_socket socket, shm_channel_options options)
    : state_(std::make_unique<state>(std::move(socket), options)) {}
shm_sender::~shm_sender() = default;
shm_sender::shm_sender(shm_sender&&) noexcept = default;
shm_sender& shm_sender::operator=(shm_sender&&) noexcept = default;

void shm_sender::send(const packet& p) { state_->send(p, std::nullopt); }

bool shm_sender::send_for(const packet& p, std::chrono::milliseconds timeout) {
  return state_->send(p, clock_type::now() + timeout);
}

bool shm_sender::try_send(const packet& p) { return state_->send(p, clock_type::now()); }

void shm_sender::finish() { state_->finish(std::nullopt); }

bool shm_sender::finish_for(std::chrono::milliseconds timeout) {
  return state_->finish(clock_type::now() + timeout);
}

shm_sender_stats shm_sender::stats() const {
  std::lock_guard lock(state_->mutex);
  auto s = state_->counts;
  s.credits = state_->credits;
  s.open = state_->open;
  s.peer_segments = state_->peer_segments.size();
  return s;
}

// -- receiver -------------------------------------------------------------------------------------

namespace {

// The receiving end of the socket, shared with the views handed out: it stays open while any of
// them lives, so that their releases can still be said.
struct receiver_link {
  shm_socket socket;
  std::mutex write_mutex;

  // Blocking: the sender's reader thread always drains the socket. A sender that is gone makes
  // this fail at once, which needs no handling (it holds nothing any more).
  void say(const std::vector<std::byte>& message) noexcept {
    std::lock_guard lock(write_mutex);
    int error = 0;
    send_message(socket.fd(), message.data(), message.size(), 0, error);
  }
};

struct mapping {
  std::byte* base = nullptr;
  std::size_t size = 0;
  mapping(std::byte* b, std::size_t s) : base(b), size(s) {}
  mapping(const mapping&) = delete;
  mapping& operator=(const mapping&) = delete;
  ~mapping() { ::munmap(base, size); }
};

// Bytes the elements of a tensor reach, checked for overflow; nothing when a dimension or
// stride is negative or the product overflows.
std::optional<std::uint64_t> reached_bytes(const shm_wire::tensor_entry& t) {
  if (t.type > static_cast<std::uint32_t>(dtype::f32)) return std::nullopt;
  std::uint64_t last = 0;
  bool empty = false;
  for (std::size_t i = 0; i < t.shape.size(); ++i) {
    if (t.shape[i] < 0 || t.strides[i] < 0) return std::nullopt;
    if (t.shape[i] == 0) empty = true;
    std::uint64_t step = 0;
    if (t.shape[i] > 0 &&
        (__builtin_mul_overflow(static_cast<std::uint64_t>(t.shape[i] - 1),
                                static_cast<std::uint64_t>(t.strides[i]), &step) ||
         __builtin_add_overflow(last, step, &last)))
      return std::nullopt;
  }
  if (empty) return 0;
  std::uint64_t bytes = 0;
  if (__builtin_mul_overflow(last + 1, size_of(static_cast<dtype>(t.type)), &bytes))
    return std::nullopt;
  return bytes;
}

}  // namespace

struct shm_receiver::state {
  std::shared_ptr<receiver_link> link;
  shm_channel_options options;
  std::unordered_map<std::uint64_t, std::shared_ptr<const mapping>> segments;
  std::vector<std::byte> message;
  std::vector<char> control;
  bool ended = false;    // the sender finished its stream
  std::uint64_t received = 0;  // packets handed out
  std::string broken;    // why the channel stopped, after a protocol error
  bool reset_seen = false;  // the dead sender's reset was read; what it sent is read next
  std::uint32_t ungranted = 0;  // packets handed out whose credit is not yet returned
  std::uint32_t grant_batch = 1;

  state(shm_socket socket, shm_channel_options o) : link(std::make_shared<receiver_link>()), options(o) {
    if (options.max_tensors > max_fds_per_message)
      throw shm_channel_error(fmt::format(
          "shm channel: max_tensors is {}; at most {} file descriptors pass in one message",
          options.max_tensors, max_fds_per_message));
    link->socket = std::move(socket);
    message.resize(2 * sizeof(std::uint32_t) + options.max_header_bytes +
                   options.inline_packet_bytes);
    control.resize(CMSG_SPACE(sizeof(int) * max_fds_per_message));
    // Credits go back in batches of a quarter of the window, which halves or better the
    // sender's wake-ups, and all of them before `receive` waits, so the sender never starves.
    grant_batch = std::max<std::uint32_t>(1, options.credits / 4);
    link->say(grant_message(options.credits, options));
  }

  ~state() {
    if (!ended && broken.empty()) link->say(closing_message());
  }

  static std::vector<std::byte> closing_message() {
    std::vector<std::byte> out;
    put_u32(out, static_cast<std::uint32_t>(shm_wire::kind::closing));
    return out;
  }

  [[noreturn]] void fail(const std::string& why) {
    broken = why;
    link->say(closing_message());
    throw shm_channel_error(why);
  }

  [[noreturn]] void cut_short() {
    fail(fmt::format(
        "shm channel: the sender closed the connection without ending its stream, after {} "
        "packets: its process died or its run was abandoned; what it had not sent is lost",
        received));
  }

  void return_credits() {
    link->say(grant_message(ungranted, options));
    ungranted = 0;
  }

  std::optional<packet> receive(deadline_type deadline) {
    if (!broken.empty())
      throw shm_channel_error("shm channel: closed after an earlier error: " + broken);
    if (ended) return std::nullopt;
    if (ungranted > 0) return_credits();
    const int fd = link->socket.fd();
    for (;;) {
      if (!wait_ready(fd, POLLIN, deadline)) return std::nullopt;
      iovec piece{message.data(), message.size()};
      msghdr m{};
      m.msg_iov = &piece;
      m.msg_iovlen = 1;
      m.msg_control = control.data();
      m.msg_controllen = control.size();
      const auto n = ::recvmsg(fd, &m, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
      if (n < 0) {
        if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK) continue;
        // A peer that died with our grants unread resets the connection instead of closing it.
        // The reset is reported once, ahead of what the peer sent before it died: read on, so
        // that those packets are delivered and the stream is cut short only where it ended.
        if (errno == ECONNRESET && !reset_seen) {
          reset_seen = true;
          continue;
        }
        if (errno == ECONNRESET) cut_short();
        fail("shm channel: reading from the sender failed: " + errno_text(errno));
      }
      // Taken into ownership before anything else, so that no error path leaks them.
      std::vector<owned_fd> fds;
      for (cmsghdr* c = CMSG_FIRSTHDR(&m); c != nullptr; c = CMSG_NXTHDR(&m, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
        const std::size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (std::size_t i = 0; i < count; ++i) {
          int passed;
          std::memcpy(&passed, CMSG_DATA(c) + i * sizeof(int), sizeof passed);
          fds.emplace_back(passed);
        }
      }
      if (n == 0) cut_short();
      if (m.msg_flags & MSG_TRUNC)
        fail(fmt::format(
            "shm channel: a message from the sender is larger than the {} bytes this receiver "
            "accepts (max_header_bytes + inline_packet_bytes)",
            message.size()));
      if (m.msg_flags & MSG_CTRUNC)
        fail(fmt::format("shm channel: a message carried more than {} file descriptors",
                         max_fds_per_message));
      try {
        const auto kind = read_kind(message.data(), static_cast<std::size_t>(n));
        if (kind == static_cast<std::uint32_t>(shm_wire::kind::finished)) {
          if (!fds.empty()) fail("shm channel: a finished message carried file descriptors");
          ended = true;
          return std::nullopt;
        }
        if (kind == static_cast<std::uint32_t>(shm_wire::kind::forget)) {
          if (!fds.empty()) fail("shm channel: a forget message carried file descriptors");
          forget(static_cast<std::size_t>(n));
          continue;
        }
        if (kind != static_cast<std::uint32_t>(shm_wire::kind::packet))
          fail(fmt::format("shm channel: the sender sent a message of unknown kind {:#x}", kind));
        auto p = unpack(static_cast<std::size_t>(n), fds);
        ++received;
        if (++ungranted >= grant_batch) return_credits();
        return p;
      } catch (const shm_channel_error& e) {
        if (broken.empty()) fail(e.what());
        throw;
      } catch (const std::exception& e) {
        fail(std::string("shm channel: cannot unpack a packet: ") + e.what());
      }
    }
  }

  void forget(std::size_t size) {
    field_reader in(message.data(), size);
    in.u32("message kind");
    const auto count = bounded_count(in, "forget count", options.max_segments);
    for (std::uint32_t i = 0; i < count; ++i) {
      const auto id = in.u64("forgotten segment id");
      if (segments.erase(id) == 0)
        fail(fmt::format("shm channel: the sender forgot segment {}, which is not mapped", id));
    }
  }

  // Checks a passed file descriptor before mapping it: a memfd (shared memory that can carry
  // seals) of exactly the announced size, sealed against shrinking, so that no access inside it
  // can ever fault.
  std::shared_ptr<const mapping> map_segment(const owned_fd& fd, const shm_wire::tensor_entry& t,
                                             std::size_t index) {
    struct stat st {};
    if (::fstat(fd.fd, &st) != 0 || !S_ISREG(st.st_mode))
      fail(fmt::format("shm channel: tensor {} ('{}'): the file descriptor for segment {} is not "
                       "a memory file",
                       index, t.name, t.segment_id));
    const int seals = ::fcntl(fd.fd, F_GET_SEALS);
    if (seals < 0)
      fail(fmt::format("shm channel: tensor {} ('{}'): the file descriptor for segment {} is not "
                       "a memfd",
                       index, t.name, t.segment_id));
    if ((seals & F_SEAL_SHRINK) == 0)
      fail(fmt::format("shm channel: tensor {} ('{}'): segment {} is not sealed against "
                       "shrinking (F_SEAL_SHRINK); mapping it could fault",
                       index, t.name, t.segment_id));
    if (static_cast<std::uint64_t>(st.st_size) != t.segment_size || t.segment_size == 0)
      fail(fmt::format("shm channel: tensor {} ('{}'): segment {} is announced as {} bytes but "
                       "its memfd has {}",
                       index, t.name, t.segment_id, t.segment_size, st.st_size));
    void* memory = ::mmap(nullptr, t.segment_size, PROT_READ, MAP_SHARED, fd.fd, 0);
    if (memory == MAP_FAILED)
      fail(fmt::format("shm channel: cannot map segment {} of {} bytes: {}", t.segment_id,
                       t.segment_size, errno_text(errno)));
    return std::make_shared<const mapping>(static_cast<std::byte*>(memory), t.segment_size);
  }

  packet unpack(std::size_t size, std::vector<owned_fd>& fds) {
    std::size_t inline_start = 0;
    auto header = shm_wire::decode_packet(message.data(), size, options, inline_start);
    const std::size_t inline_size = size - inline_start;

    // Everything is checked, and new segments mapped, before the cache changes: a refused packet
    // leaves the receiver as it was.
    std::unordered_set<std::uint64_t> forgotten;
    for (auto id : header.forget) {
      if (!segments.count(id) || !forgotten.insert(id).second)
        fail(fmt::format("shm channel: packet {} forgets segment {}, which is not mapped",
                         header.sequence, id));
    }
    std::unordered_map<std::uint64_t, std::shared_ptr<const mapping>> fresh;
    auto known = [&](std::uint64_t id) -> std::shared_ptr<const mapping> {
      if (auto f = fresh.find(id); f != fresh.end()) return f->second;
      if (forgotten.count(id)) return nullptr;
      auto s = segments.find(id);
      return s == segments.end() ? nullptr : s->second;
    };
    std::vector<std::shared_ptr<const mapping>> where(header.tensors.size());
    std::size_t next_fd = 0;
    for (std::size_t i = 0; i < header.tensors.size(); ++i) {
      const auto& t = header.tensors[i];
      const auto reach = reached_bytes(t);
      if (!reach || *reach > t.size)
        fail(fmt::format("shm channel: packet {}, tensor {} ('{}'): dtype {} with shape and "
                         "strides that reach {} bytes does not fit its {} bytes",
                         header.sequence, i, t.name, t.type,
                         reach ? std::to_string(*reach) : std::string("past 2^64"), t.size));
      if (!t.shared) {
        if (t.inline_offset > inline_size || t.size > inline_size - t.inline_offset)
          fail(fmt::format("shm channel: packet {}, tensor {} ('{}'): inline bytes [{}, +{}) lie "
                           "outside the {} inline bytes of the message",
                           header.sequence, i, t.name, t.inline_offset, t.size, inline_size));
        continue;
      }
      std::shared_ptr<const mapping> m;
      if (t.carries_fd) {
        if (next_fd >= fds.size())
          fail(fmt::format("shm channel: packet {}, tensor {} ('{}') says its segment's file "
                           "descriptor is attached; only {} came with the message",
                           header.sequence, i, t.name, fds.size()));
        if (known(t.segment_id))
          fail(fmt::format("shm channel: packet {}, tensor {} ('{}') passes segment {} again; it "
                           "is already mapped",
                           header.sequence, i, t.name, t.segment_id));
        if (segments.size() - forgotten.size() + fresh.size() + 1 > options.max_segments)
          fail(fmt::format("shm channel: packet {} would make the receiver map more than {} "
                           "segments (max_segments)",
                           header.sequence, options.max_segments));
        m = map_segment(fds[next_fd++], t, i);
        fresh.emplace(t.segment_id, m);
      } else {
        m = known(t.segment_id);
        if (!m)
          fail(fmt::format("shm channel: packet {}, tensor {} ('{}') names segment {}, which is "
                           "not mapped and whose file descriptor did not come",
                           header.sequence, i, t.name, t.segment_id));
      }
      if (t.segment_size != m->size || t.offset > m->size || t.size > m->size - t.offset)
        fail(fmt::format("shm channel: packet {}, tensor {} ('{}'): bytes [{}, +{}) lie outside "
                         "segment {} of {} bytes",
                         header.sequence, i, t.name, t.offset, t.size, t.segment_id, m->size));
      where[i] = std::move(m);
    }
    if (next_fd != fds.size())
      fail(fmt::format("shm channel: packet {} came with {} file descriptors for {} new segments",
                       header.sequence, fds.size(), next_fd));

    for (auto id : forgotten) segments.erase(id);
    for (auto& [id, m] : fresh) segments.emplace(id, std::move(m));

    packet p;
    p.stream_id = header.stream_id;
    p.sequence = header.sequence;
    p.timestamp_us = header.timestamp_us;
    p.created_ns = header.created_ns;
    p.tensors.reserve(header.tensors.size());
    const std::byte* inline_area = message.data() + inline_start;
    for (std::size_t i = 0; i < header.tensors.size(); ++i) {
      auto& t = header.tensors[i];
      buffer memory;
      if (t.shared) {
        const auto token = t.token;
        auto release = [link = link, m = where[i], token] {
          std::vector<std::byte> out;
          put_u32(out, static_cast<std::uint32_t>(shm_wire::kind::release));
          put_u32(out, 1);
          put_u64(out, token);
          link->say(out);
        };
        memory = buffer::adopt(where[i]->base + t.offset, t.size, std::move(release));
      } else {
        memory = buffer::allocate(t.size);
        if (t.size > 0) std::memcpy(memory.data(), inline_area + t.inline_offset, t.size);
      }
      p.tensors.push_back({std::move(t.name),
                           tensor(static_cast<dtype>(t.type), shape_t(t.shape), shape_t(t.strides),
                                  std::move(memory), "cpu")});
    }
    p.metadata = std::move(header.metadata);
    return p;
  }
};

shm_receiver::shm_receiver(shm_socket socket, shm_channel_options options)
    : state_(std::make_unique<state>(std::move(socket), options)) {}
shm_receiver::~shm_receiver() = default;
shm_receiver::shm_receiver(shm_receiver&&) noexcept = default;
shm_receiver& shm_receiver::operator=(shm_receiver&&) noexcept = default;

std::optional<packet> shm_receiver::receive() { return state_->receive(std::nullopt); }

std::optional<packet> shm_receiver::receive_for(std::chrono::milliseconds timeout) {
  return state_->receive(clock_type::now() + timeout);
}

bool shm_receiver::closed() const { return state_->ended || !state_->broken.empty(); }

std::size_t shm_receiver::mapped_segments() const { return state_->segments.size(); }

}  // namespace loom
