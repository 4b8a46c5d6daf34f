// The shared-memory channel between processes (connectors/shm_channel.hpp) and the shareable
// buffers under it (devices/buffer.hpp). Cross-process cases fork a child that plays the
// receiver; the child checks what it got and reports through its exit status (its failures go
// to stderr), and the two sides step through a case with single bytes over pipes. Sharing is
// proved, not assumed: the producer rewrites its buffer after the consumer received it, and the
// consumer must see the new bytes in a read-only memfd mapping.
#include <boost/test/unit_test.hpp>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "connectors/shm_channel.hpp"

using namespace loom;
using namespace std::chrono_literals;

namespace {

constexpr std::size_t mib = std::size_t{1} << 20;

std::uint8_t pattern_byte(std::size_t i, unsigned seed) {
  return static_cast<std::uint8_t>((i * 131u + (i >> 13) + seed * 29u) & 0xffu);
}

void fill(std::byte* data, std::size_t n, unsigned seed) {
  for (std::size_t i = 0; i < n; ++i) data[i] = static_cast<std::byte>(pattern_byte(i, seed));
}

// Index of the first byte that differs from the pattern, or n.
std::size_t first_mismatch(const std::byte* data, std::size_t n, unsigned seed) {
  for (std::size_t i = 0; i < n; ++i)
    if (static_cast<std::uint8_t>(data[i]) != pattern_byte(i, seed)) return i;
  return n;
}

// A check inside a child process, where Boost.Test must not run.
void require(bool ok, const std::string& what) {
  if (!ok) throw std::runtime_error(what);
}

// One byte at a time between parent and child.
class signal_pipe {
 public:
  signal_pipe() {
    if (::pipe2(fds_, O_CLOEXEC) != 0) throw std::runtime_error("pipe failed");
  }
  ~signal_pipe() {
    ::close(fds_[0]);
    ::close(fds_[1]);
  }
  void post(char c) const {
    if (::write(fds_[1], &c, 1) != 1) throw std::runtime_error("pipe write failed");
  }
  // The next byte, or 0 after `timeout`.
  char wait(std::chrono::milliseconds timeout = 20s) const {
    pollfd p{fds_[0], POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(timeout.count())) != 1) return 0;
    char c = 0;
    return ::read(fds_[0], &c, 1) == 1 ? c : 0;
  }

 private:
  int fds_[2];
};

// Runs `body` in a forked child, which exits 0 when it returns and 1 when it throws.
pid_t fork_child(const std::function<void()>& body) {
  const pid_t pid = ::fork();
  if (pid != 0) return pid;
  int code = 0;
  try {
    body();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "child %d: %s\n", ::getpid(), e.what());
    code = 1;
  }
  ::_exit(code);
}

// The child's exit code; 128 + signal when a signal ended it.
int wait_child(pid_t pid) {
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

// The line of /proc/self/maps whose range holds `address`.
std::string mapping_of(const void* address) {
  std::ifstream maps("/proc/self/maps");
  const auto at = reinterpret_cast<std::uintptr_t>(address);
  for (std::string line; std::getline(maps, line);) {
    std::uintptr_t start = 0, end = 0;
    if (std::sscanf(line.c_str(), "%lx-%lx", &start, &end) == 2 && start <= at && at < end)
      return line;
  }
  return "";
}

tensor bytes_tensor(buffer memory) {
  const auto n = static_cast<std::int64_t>(memory.size());
  return tensor(dtype::u8, {n}, std::move(memory));
}

packet one_tensor_packet(std::string name, tensor t, std::uint64_t sequence = 0) {
  packet p;
  p.stream_id = 7;
  p.sequence = sequence;
  p.set(std::move(name), std::move(t));
  return p;
}

// Waits until `done` holds, up to five seconds.
bool eventually(const std::function<bool()>& done) {
  const auto until = std::chrono::steady_clock::now() + 5s;
  while (!done()) {
    if (std::chrono::steady_clock::now() > until) return false;
    std::this_thread::sleep_for(2ms);
  }
  return true;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(shareable_buffers)

BOOST_AUTO_TEST_CASE(large_buffers_are_sealed_memfd_segments) {
  auto small = buffer::allocate(4096);
  BOOST_TEST(!small.shareable().has_value());
  std::vector<std::byte> elsewhere(mib);
  BOOST_TEST(!buffer::adopt(elsewhere.data(), mib, {}).shareable().has_value());

  auto large = buffer::allocate(mib + 10);
  const auto region = large.shareable();
  BOOST_REQUIRE(region.has_value());
  BOOST_TEST(region->offset == 0u);
  BOOST_TEST(region->segment_size % static_cast<std::size_t>(::sysconf(_SC_PAGESIZE)) == 0u);
  BOOST_TEST(region->segment_size >= mib + 10);
  struct stat st {};
  BOOST_REQUIRE(::fstat(region->fd, &st) == 0);
  BOOST_TEST(static_cast<std::size_t>(st.st_size) == region->segment_size);
  BOOST_TEST((::fcntl(region->fd, F_GET_SEALS) & F_SEAL_SHRINK) != 0);
  BOOST_TEST(mapping_of(large.data()).find("/memfd:loom") != std::string::npos);

  const auto view = large.share(4096, 100).shareable();
  BOOST_REQUIRE(view.has_value());
  BOOST_TEST(view->offset == 4096u);
  BOOST_TEST(view->segment_id == region->segment_id);
  BOOST_TEST(view->fd == region->fd);
}

BOOST_AUTO_TEST_CASE(segments_are_recycled_zeroed_unless_withheld) {
  std::uint64_t first_id = 0;
  {
    auto b = buffer::allocate(3 * mib);
    first_id = b.shareable()->segment_id;
    std::memset(b.data(), 0xab, b.size());
  }
  BOOST_TEST(buffer::idle_segment_bytes() >= 3 * mib);
  std::uint64_t withheld_id = 0;
  {
    auto again = buffer::allocate(3 * mib);
    BOOST_TEST(again.shareable()->segment_id == first_id);
    BOOST_TEST(std::count(again.data(), again.data() + again.size(), std::byte{0}) ==
               static_cast<std::ptrdiff_t>(3 * mib));
    withheld_id = again.shareable()->segment_id;
    again.withhold_from_pool();
  }
  auto fresh = buffer::allocate(3 * mib);
  BOOST_TEST(fresh.shareable()->segment_id != withheld_id);

  buffer::limit_idle_segments(0);
  BOOST_TEST(buffer::idle_segment_bytes() == 0u);
  { auto dropped = buffer::allocate(mib); }
  BOOST_TEST(buffer::idle_segment_bytes() == 0u);
  buffer::limit_idle_segments(256 * mib);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(shm_channel)

BOOST_AUTO_TEST_CASE(a_64_mib_tensor_crosses_without_a_copy) {
  constexpr std::size_t size = 64 * mib;
  auto [ours, theirs] = shm_socket::pair();
  signal_pipe to_child, to_parent;
  const pid_t child = fork_child([&, &theirs = theirs] {
    shm_receiver in(std::move(theirs));
    auto p = in.receive();
    require(p.has_value(), "no packet arrived");
    const auto& t = p->at("frame");
    require(t.nbytes() == size && t.type() == dtype::u8, "wrong tensor");
    require(first_mismatch(t.raw(), size, 1) == size, "the bytes differ from what was sent");
    const auto line = mapping_of(t.raw());
    require(line.find(" r--s ") != std::string::npos &&
                line.find("/memfd:loom") != std::string::npos,
            "not a read-only shared memfd mapping: " + line);
    to_parent.post('r');
    require(to_child.wait() == 'w', "the parent did not rewrite its buffer");
    // The producer wrote after we received: only the very same pages show its new bytes.
    require(first_mismatch(t.raw(), size, 2) == size, "the view did not see the producer's write");
  });
  theirs = shm_socket();

  auto memory = buffer::allocate(size);
  fill(memory.data(), size, 1);
  shm_sender out(std::move(ours));
  out.send(one_tensor_packet("frame", bytes_tensor(memory)));
  BOOST_TEST(out.stats().shared_bytes == size);
  BOOST_TEST(out.stats().copied_bytes == 0u);
  BOOST_REQUIRE(to_parent.wait() == 'r');
  fill(memory.data(), size, 2);
  to_child.post('w');
  BOOST_TEST(wait_child(child) == 0);
}

BOOST_AUTO_TEST_CASE(the_sender_holds_a_buffer_until_the_last_view_is_gone) {
  auto [ours, theirs] = shm_socket::pair();
  signal_pipe to_child, to_parent;
  const pid_t child = fork_child([&, &theirs = theirs] {
    shm_receiver in(std::move(theirs));
    auto first = in.receive()->at("x");
    auto second = first.memory().share(0, 100);
    to_parent.post('a');
    require(to_child.wait() == 'b', "step b");
    first = tensor();
    to_parent.post('c');
    require(to_child.wait() == 'd', "step d");
    second = buffer();
    to_parent.post('e');
    require(to_child.wait() == 'f', "step f");
    // The producer's segment is gone now: the sender tells us to forget it.
    for (int i = 0; i < 50 && in.mapped_segments() != 0; ++i)
      require(!in.receive_for(100ms).has_value(), "an unexpected packet");
    require(in.mapped_segments() == 0, "the segment is still mapped");
  });
  theirs = shm_socket();

  auto memory = buffer::allocate(mib);
  shm_sender out(std::move(ours));
  out.send(one_tensor_packet("x", bytes_tensor(memory)));
  BOOST_TEST(memory.use_count() == 2);  // ours and the sender's
  BOOST_REQUIRE(to_parent.wait() == 'a');
  std::this_thread::sleep_for(100ms);
  BOOST_TEST(memory.use_count() == 2);
  to_child.post('b');
  BOOST_REQUIRE(to_parent.wait() == 'c');
  std::this_thread::sleep_for(100ms);
  BOOST_TEST(memory.use_count() == 2);  // the child still holds a view
  BOOST_TEST(out.stats().held_buffers == 1u);
  to_child.post('d');
  BOOST_REQUIRE(to_parent.wait() == 'e');
  BOOST_TEST(eventually([&] { return memory.use_count() == 1; }));
  BOOST_TEST(out.stats().held_buffers == 0u);
  BOOST_TEST(out.stats().peer_segments == 1u);  // mapped there until the segment dies here
  memory.withhold_from_pool();
  memory = buffer();
  BOOST_TEST(eventually([&] { return out.stats().peer_segments == 0u; }));
  to_child.post('f');
  BOOST_TEST(wait_child(child) == 0);
}

BOOST_AUTO_TEST_CASE(a_killed_receiver_releases_every_held_buffer) {
  auto [ours, theirs] = shm_socket::pair();
  signal_pipe to_parent;
  const pid_t child = fork_child([&, &theirs = theirs] {
    shm_receiver in(std::move(theirs));
    std::vector<packet> kept;
    for (int i = 0; i < 4; ++i) kept.push_back(*in.receive());
    to_parent.post('h');
    for (;;) ::pause();
  });
  theirs = shm_socket();

  std::vector<buffer> memories;
  std::set<std::uint64_t> ids;
  shm_sender out(std::move(ours));
  for (int i = 0; i < 4; ++i) {
    memories.push_back(buffer::allocate(mib));
    ids.insert(memories.back().shareable()->segment_id);
    out.send(one_tensor_packet("x", bytes_tensor(memories.back()), i));
  }
  BOOST_REQUIRE(to_parent.wait() == 'h');
  BOOST_TEST(out.stats().held_buffers == 4u);
  for (const auto& m : memories) BOOST_TEST(m.use_count() == 2);
  ::kill(child, SIGKILL);
  BOOST_TEST(wait_child(child) == 128 + SIGKILL);
  BOOST_TEST(eventually([&] {
    for (const auto& m : memories)
      if (m.use_count() != 1) return false;
    return true;
  }));
  BOOST_TEST(out.stats().held_buffers == 0u);
  BOOST_TEST(!out.stats().open);
  BOOST_CHECK_THROW(out.send(one_tensor_packet("x", bytes_tensor(memories[0]))),
                    shm_channel_error);
  // What a peer that vanished may still have read is never handed out again.
  memories.clear();
  auto next = buffer::allocate(mib);
  BOOST_TEST(!ids.count(next.shareable()->segment_id));
}

BOOST_AUTO_TEST_CASE(small_and_unshareable_tensors_are_copied_and_counted) {
  auto [ours, theirs] = shm_socket::pair();
  shm_receiver in(std::move(theirs));
  shm_sender out(std::move(ours));

  packet p;
  p.stream_id = 3;
  p.sequence = 11;
  p.timestamp_us = 123456;
  p.created_ns = 987654321;
  auto small = buffer::allocate(4096);
  fill(small.data(), small.size(), 5);
  p.set("tokens", tensor(dtype::i32, {1024}, small));
  auto large = buffer::allocate(2 * mib);
  fill(large.data(), large.size(), 6);
  // Every other f32 of a [4, 65536] block: strided, sent as the span it reaches.
  p.set("columns", tensor(dtype::f32, {4, 32768}, {65536, 2}, large));
  std::vector<std::byte> outside(512 * 1024);
  fill(outside.data(), outside.size(), 7);
  p.set("adopted", bytes_tensor(buffer::adopt(outside.data(), outside.size(), {})));
  p.metadata.emplace_back("caption", "a cat");

  out.send(p);
  const auto q = in.receive();
  BOOST_REQUIRE(q.has_value());
  BOOST_TEST(q->stream_id == 3u);
  BOOST_TEST(q->sequence == 11u);
  BOOST_TEST(q->timestamp_us == 123456);
  BOOST_TEST(q->created_ns == 987654321);
  BOOST_TEST(*q->meta("caption") == "a cat");

  const auto& tokens = q->at("tokens");
  BOOST_TEST((tokens.type() == dtype::i32 && tokens.shape() == shape_t{1024}));
  BOOST_TEST(first_mismatch(tokens.raw(), 4096, 5) == 4096u);
  const auto& columns = q->at("columns");
  BOOST_TEST((columns.strides() == shape_t{65536, 2}));
  const std::size_t span = ((4 - 1) * 65536 + (32768 - 1) * 2 + 1) * 4;
  BOOST_TEST(columns.nbytes() == span);
  BOOST_TEST(first_mismatch(columns.raw(), span, 6) == span);
  BOOST_TEST(first_mismatch(q->at("adopted").raw(), outside.size(), 7) == outside.size());

  const auto s = out.stats();
  BOOST_TEST(s.copied_bytes == 4096u + outside.size());  // inline, and staged into a segment
  BOOST_TEST(s.shared_bytes == span);
  BOOST_TEST(s.held_buffers == 2u);  // the shared tensor and the staged copy
}

BOOST_AUTO_TEST_CASE(a_recycled_segment_is_neither_passed_nor_mapped_again) {
  auto [ours, theirs] = shm_socket::pair();
  shm_receiver in(std::move(theirs));
  shm_sender out(std::move(ours));
  const std::byte* first_view = nullptr;
  std::uint64_t id = 0;
  std::size_t idle_before = 0;
  {
    auto memory = buffer::allocate(2 * mib);
    id = memory.shareable()->segment_id;
    idle_before = buffer::idle_segment_bytes();
    fill(memory.data(), memory.size(), 1);
    out.send(one_tensor_packet("x", bytes_tensor(memory)));
    const auto q = in.receive();
    first_view = q->at("x").raw();
    BOOST_TEST(first_mismatch(first_view, 2 * mib, 1) == 2 * mib);
  }
  // Released by the receiver, dropped by the sender, back in the pool.
  BOOST_TEST(eventually([&] { return buffer::idle_segment_bytes() >= idle_before + 2 * mib; }));
  auto again = buffer::allocate(2 * mib);
  BOOST_REQUIRE(again.shareable()->segment_id == id);
  fill(again.data(), again.size(), 2);
  out.send(one_tensor_packet("x", bytes_tensor(again), 1));
  const auto q = in.receive();
  BOOST_TEST(q->at("x").raw() == first_view);  // the receiver's mapping from the first time
  BOOST_TEST(first_mismatch(q->at("x").raw(), 2 * mib, 2) == 2 * mib);
  BOOST_TEST(out.stats().segments_passed == 1u);
  BOOST_TEST(in.mapped_segments() == 1u);
}

BOOST_AUTO_TEST_CASE(credits_block_the_sender) {
  auto [ours, theirs] = shm_socket::pair();
  shm_channel_options options;
  options.credits = 2;
  shm_receiver in(std::move(theirs), options);
  shm_sender out(std::move(ours));
  auto small = bytes_tensor(buffer::allocate(64));

  out.send(one_tensor_packet("x", small, 0));
  BOOST_TEST(out.try_send(one_tensor_packet("x", small, 1)));
  BOOST_TEST(out.stats().credits == 0u);
  BOOST_TEST(!out.try_send(one_tensor_packet("x", small, 2)));
  const auto start = std::chrono::steady_clock::now();
  BOOST_TEST(!out.send_for(one_tensor_packet("x", small, 2), 100ms));
  BOOST_TEST((std::chrono::steady_clock::now() - start >= 100ms));

  BOOST_TEST(in.receive()->sequence == 0u);  // hands one credit back
  BOOST_TEST(out.send_for(one_tensor_packet("x", small, 2), 5s));
  BOOST_TEST(in.receive()->sequence == 1u);
  BOOST_TEST(in.receive()->sequence == 2u);
  BOOST_TEST(out.stats().packets == 3u);
}

BOOST_AUTO_TEST_CASE(the_receivers_segment_limit_holds_the_sender_back) {
  auto [ours, theirs] = shm_socket::pair();
  shm_channel_options options;
  options.max_segments = 2;
  shm_receiver in(std::move(theirs), options);
  shm_sender out(std::move(ours));

  std::vector<packet> kept;
  for (int i = 0; i < 2; ++i) {
    out.send(one_tensor_packet("x", bytes_tensor(buffer::allocate(mib)), i));
    kept.push_back(*in.receive());
  }
  auto third = one_tensor_packet("x", bytes_tensor(buffer::allocate(mib)), 2);
  BOOST_TEST(!out.try_send(third));
  kept.erase(kept.begin());  // releases one segment; the sender tells the receiver to forget it
  BOOST_TEST(out.send_for(third, 5s));
  const auto q = in.receive();
  BOOST_TEST(q->sequence == 2u);
  BOOST_TEST(in.mapped_segments() == 2u);
}

BOOST_AUTO_TEST_CASE(views_outlive_a_destroyed_sender_and_are_not_recycled_under_them) {
  auto [ours, theirs] = shm_socket::pair();
  shm_receiver in(std::move(theirs));
  std::optional<packet> q;
  {
    shm_sender out(std::move(ours));
    auto memory = buffer::allocate(mib);
    fill(memory.data(), mib, 9);
    out.send(one_tensor_packet("x", bytes_tensor(memory)));
    q = in.receive();
    out.finish();
  }
  // Were the segment recycled, one of these would get it and overwrite the view.
  std::vector<buffer> others;
  for (int i = 0; i < 4; ++i) {
    others.push_back(buffer::allocate(mib));
    std::memset(others.back().data(), 0x5a, mib);
  }
  BOOST_TEST(first_mismatch(q->at("x").raw(), mib, 9) == mib);
  BOOST_TEST(!in.receive_for(1s).has_value());
  BOOST_TEST(in.closed());
}

BOOST_AUTO_TEST_CASE(the_stream_ends_when_the_sender_says_so_and_nothing_follows) {
  auto [ours, theirs] = shm_socket::pair();
  shm_receiver in(std::move(theirs));
  shm_sender out(std::move(ours));
  out.send(one_tensor_packet("x", bytes_tensor(buffer::allocate(16))));
  out.send(one_tensor_packet("x", bytes_tensor(buffer::allocate(16))));
  out.finish();
  BOOST_CHECK_THROW(out.send(one_tensor_packet("x", bytes_tensor(buffer::allocate(16)))),
                    shm_channel_error);
  BOOST_TEST(in.receive().has_value());  // what was sent before the end still arrives
  BOOST_TEST(in.receive().has_value());
  BOOST_TEST(!in.receive().has_value());
  BOOST_TEST(in.closed());
  BOOST_TEST(!in.receive_for(10ms).has_value());  // and stays ended, without an error
}

// A process that dies cannot say that its stream ended: the receiver must not take the closed
// connection for the end of a complete stream.
BOOST_AUTO_TEST_CASE(a_sender_that_dies_mid_stream_fails_the_receiver) {
  auto [ours, theirs] = shm_socket::pair();
  const pid_t child = fork_child([&, &ours = ours] {
    shm_sender out(std::move(ours));
    for (std::uint64_t i = 0; i < 3; ++i) {
      auto p = one_tensor_packet("x", bytes_tensor(buffer::allocate(mib)));
      p.sequence = i;
      out.send(p);
    }
    ::_exit(0);  // no finish(), no destructors: as a crash would
  });
  ours = shm_socket();
  shm_receiver in(std::move(theirs));
  for (int i = 0; i < 3; ++i) BOOST_TEST(in.receive_for(5s).has_value());
  std::string why;
  try {
    in.receive_for(5s);
  } catch (const shm_channel_error& e) {
    why = e.what();
  }
  BOOST_TEST(why.find("without ending its stream, after 3 packets") != std::string::npos, why);
  BOOST_TEST(in.closed());
  BOOST_TEST(wait_child(child) == 0);
}

BOOST_AUTO_TEST_CASE(a_destroyed_receiver_stops_the_sender) {
  auto [ours, theirs] = shm_socket::pair();
  shm_sender out(std::move(ours));
  std::optional<tensor> kept;
  {
    shm_receiver in(std::move(theirs));
    out.send(one_tensor_packet("x", bytes_tensor(buffer::allocate(mib))));
    kept = in.receive()->at("x");
  }
  BOOST_TEST(eventually([&] { return !out.stats().open; }));
  BOOST_CHECK_THROW(out.send(one_tensor_packet("x", bytes_tensor(buffer::allocate(64)))),
                    shm_channel_error);
  BOOST_TEST(out.stats().held_buffers == 1u);  // the view is still alive
  kept.reset();
  BOOST_TEST(eventually([&] { return out.stats().held_buffers == 0u; }));
}

BOOST_AUTO_TEST_CASE(peers_meet_at_a_socket_path) {
  const auto path = (std::filesystem::temp_directory_path() /
                     ("loom-shm-test-" + std::to_string(::getpid())))
                        .string();
  shm_listener listener(path);
  auto ours = shm_socket::connect(path);
  auto theirs = listener.accept(5s);
  BOOST_REQUIRE(theirs.has_value());
  shm_receiver in(std::move(*theirs));
  shm_sender out(std::move(ours));
  auto memory = buffer::allocate(mib);
  fill(memory.data(), mib, 4);
  out.send(one_tensor_packet("x", bytes_tensor(memory)));
  BOOST_TEST(first_mismatch(in.receive()->at("x").raw(), mib, 4) == mib);
  BOOST_CHECK_THROW(shm_socket::connect(path + "-nobody"), shm_channel_error);
  // A live listener's path is not taken over; one left by a dead process is.
  BOOST_CHECK_THROW(shm_listener{path}, shm_channel_error);
  const auto stale = path + "-stale";
  {
    shm_socket left(::socket(AF_UNIX, SOCK_SEQPACKET, 0));
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::strcpy(address.sun_path, stale.c_str());
    BOOST_REQUIRE(::bind(left.fd(), reinterpret_cast<const sockaddr*>(&address), sizeof address) == 0);
  }
  BOOST_CHECK_NO_THROW(shm_listener{stale});
  // Refusing a listener that still waits for its sender must not disturb it: the first
  // connection it accepts is that sender's, not a probe of the path.
  const auto waiting_path = path + "-waiting";
  shm_listener waiting(waiting_path);
  BOOST_CHECK_THROW(shm_listener{waiting_path}, shm_channel_error);
  auto sender_end = shm_socket::connect(waiting_path);
  auto accepted = waiting.accept(5s);
  BOOST_REQUIRE(accepted.has_value());
  shm_receiver waited(std::move(*accepted));
  shm_sender sent(std::move(sender_end));
  BOOST_TEST(sent.send_for(one_tensor_packet("x", bytes_tensor(buffer::allocate(16))), 5s));
  BOOST_TEST(waited.receive_for(5s).has_value());
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(hostile_senders)

namespace {

// A raw packet from a hand-made header, with file descriptors attached.
void send_raw(int fd, const shm_wire::packet_header& header, const std::vector<std::byte>& inline_bytes,
              const std::vector<int>& fds) {
  std::vector<std::byte> message;
  shm_wire::encode_packet(header, message);
  message.insert(message.end(), inline_bytes.begin(), inline_bytes.end());
  iovec piece{message.data(), message.size()};
  msghdr m{};
  m.msg_iov = &piece;
  m.msg_iovlen = 1;
  std::vector<char> control(CMSG_SPACE(sizeof(int) * std::max<std::size_t>(1, fds.size())));
  if (!fds.empty()) {
    m.msg_control = control.data();
    m.msg_controllen = CMSG_SPACE(sizeof(int) * fds.size());
    auto* c = CMSG_FIRSTHDR(&m);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
    std::memcpy(CMSG_DATA(c), fds.data(), sizeof(int) * fds.size());
  }
  BOOST_REQUIRE(::sendmsg(fd, &m, MSG_NOSIGNAL) == static_cast<ssize_t>(message.size()));
}

void send_bytes(int fd, const std::vector<std::byte>& bytes) {
  BOOST_REQUIRE(::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL) ==
                static_cast<ssize_t>(bytes.size()));
}

shm_wire::tensor_entry shared_entry(const shared_region& region, std::uint64_t size) {
  shm_wire::tensor_entry e;
  e.name = "x";
  e.type = static_cast<std::uint32_t>(dtype::u8);
  e.shape = {static_cast<std::int64_t>(size)};
  e.strides = {1};
  e.size = size;
  e.shared = true;
  e.segment_id = region.segment_id;
  e.segment_size = region.segment_size;
  e.offset = region.offset;
  e.token = 1;
  e.carries_fd = true;
  return e;
}

// An inline tensor "x": `count` elements of `type`, declared as `size` bytes.
shm_wire::tensor_entry inline_entry(dtype type, std::int64_t count, std::uint64_t size) {
  shm_wire::tensor_entry e;
  e.name = "x";
  e.type = static_cast<std::uint32_t>(type);
  e.shape = {count};
  e.strides = {1};
  e.size = size;
  return e;
}

// Sends what `attack` writes to a fresh receiver and returns the error it reports; the receiver
// must refuse the next call too, and nothing may crash.
std::string refusal(const std::function<void(int)>& attack) {
  auto [hostile, theirs] = shm_socket::pair();
  shm_receiver in(std::move(theirs));
  attack(hostile.fd());
  std::string message;
  try {
    in.receive_for(2s);
    message = "(accepted)";
  } catch (const shm_channel_error& e) {
    message = e.what();
  }
  BOOST_TEST(in.closed());
  BOOST_CHECK_THROW(in.receive_for(10ms), shm_channel_error);
  return message;
}

bool says(const std::string& message, const std::string& part) {
  BOOST_TEST_INFO("error: " << message);
  return message.find(part) != std::string::npos;
}

}  // namespace

BOOST_AUTO_TEST_CASE(descriptors_outside_their_segment_are_refused) {
  auto memory = buffer::allocate(mib);
  const auto region = *memory.shareable();
  shm_wire::packet_header h;
  h.tensors.push_back(shared_entry(region, region.segment_size));
  h.tensors.back().offset = 4096;  // its last 4 KiB lie past the end
  BOOST_TEST(says(refusal([&](int fd) { send_raw(fd, h, {}, {region.fd}); }), "outside segment"));

  h.tensors.back().offset = ~std::uint64_t{0} - 10;  // offset + size wraps around
  BOOST_TEST(says(refusal([&](int fd) { send_raw(fd, h, {}, {region.fd}); }), "outside segment"));
}

BOOST_AUTO_TEST_CASE(unknown_segments_and_missing_fds_are_refused) {
  auto memory = buffer::allocate(mib);
  const auto region = *memory.shareable();
  shm_wire::packet_header h;
  h.tensors.push_back(shared_entry(region, 100));
  h.tensors.back().carries_fd = false;
  BOOST_TEST(says(refusal([&](int fd) { send_raw(fd, h, {}, {}); }), "not mapped"));

  h.tensors.back().carries_fd = true;
  BOOST_TEST(says(refusal([&](int fd) { send_raw(fd, h, {}, {}); }), "only 0 came"));

  h.tensors.back().carries_fd = false;  // an fd nobody asked for
  BOOST_TEST(says(refusal([&](int fd) { send_raw(fd, h, {}, {region.fd}); }), "not mapped"));
}

BOOST_AUTO_TEST_CASE(fds_that_are_not_sealed_memfds_of_the_right_size_are_refused) {
  auto memory = buffer::allocate(mib);
  const auto region = *memory.shareable();
  shm_wire::packet_header h;
  h.tensors.push_back(shared_entry(region, 100));

  int pipe_ends[2];
  BOOST_REQUIRE(::pipe(pipe_ends) == 0);
  BOOST_TEST(says(refusal([&](int fd) { send_raw(fd, h, {}, {pipe_ends[0]}); }),
                  "not a memory file"));
  ::close(pipe_ends[0]);
  ::close(pipe_ends[1]);

  // Unsealed: its owner could shrink it under our mapping and make us fault.
  const int unsealed = ::memfd_create("unsealed", MFD_CLOEXEC);
  BOOST_REQUIRE(::ftruncate(unsealed, static_cast<off_t>(region.segment_size)) == 0);
  BOOST_TEST(says(refusal([&](int fd) { send_raw(fd, h, {}, {unsealed}); }), "not sealed"));
  ::close(unsealed);

  h.tensors.back().segment_size = region.segment_size * 2;
  BOOST_TEST(says(refusal([&](int fd) { send_raw(fd, h, {}, {region.fd}); }), "announced as"));
}

BOOST_AUTO_TEST_CASE(malformed_headers_are_refused) {
  shm_wire::packet_header h;
  h.tensors.push_back(inline_entry(dtype::f32, 1000, 16));  // 1000 floats need 4000 bytes
  BOOST_TEST(says(refusal([&](int fd) { send_raw(fd, h, std::vector<std::byte>(16), {}); }),
                  "does not fit"));

  h.tensors.back().size = 4000;  // fits, but only 16 inline bytes follow
  BOOST_TEST(says(refusal([&](int fd) { send_raw(fd, h, std::vector<std::byte>(16), {}); }),
                  "outside the 16 inline bytes"));

  h.tensors.back().type = 99;
  BOOST_TEST(says(refusal([&](int fd) { send_raw(fd, h, std::vector<std::byte>(4000), {}); }),
                  "does not fit"));

  shm_wire::packet_header many;
  many.tensors.assign(65, shm_wire::tensor_entry{});
  BOOST_TEST(says(refusal([&](int fd) { send_raw(fd, many, {}, {}); }), "tensor count is 65"));

  std::vector<std::byte> truncated;
  shm_wire::encode_packet(h, truncated);
  truncated.resize(truncated.size() - 9);
  const std::uint32_t length = static_cast<std::uint32_t>(truncated.size() - 8);
  std::memcpy(truncated.data() + 4, &length, sizeof length);
  BOOST_TEST(says(refusal([&](int fd) { send_bytes(fd, truncated); }), "ends inside"));

  BOOST_TEST(says(refusal([&](int fd) { send_bytes(fd, {std::byte{1}, std::byte{2}, std::byte{3},
                                                        std::byte{4}}); }),
                  "unknown kind"));
  BOOST_TEST(says(refusal([&](int fd) { send_bytes(fd, std::vector<std::byte>(200 * 1024)); }),
                  "larger than"));
}

// A sender that dies with the receiver's grants unread makes the kernel report a reset — and
// report it ahead of the packets it had sent. Those packets are delivered; the stream is cut
// short after them. (The receiver's first grant, sent as it is made, is what stays unread here;
// in a crash it is whatever the sender's reader had not read yet.)
BOOST_AUTO_TEST_CASE(what_a_dead_sender_sent_is_delivered_before_its_reset) {
  auto [dying, theirs] = shm_socket::pair();
  shm_receiver in(std::move(theirs));
  shm_wire::packet_header h;
  h.tensors.push_back(inline_entry(dtype::u8, 16, 16));
  for (std::uint64_t i = 0; i < 3; ++i) {
    h.sequence = i;
    send_raw(dying.fd(), h, std::vector<std::byte>(16, std::byte(i)), {});
  }
  dying = shm_socket();  // closed with the grant unread
  for (std::uint64_t i = 0; i < 3; ++i) {
    auto p = in.receive_for(2s);
    BOOST_REQUIRE(p.has_value());
    BOOST_TEST(p->sequence == i);
    BOOST_TEST(std::to_integer<std::uint64_t>(p->at("x").raw()[15]) == i);
  }
  std::string why;
  try {
    in.receive_for(2s);
  } catch (const shm_channel_error& e) {
    why = e.what();
  }
  BOOST_TEST(says(why, "without ending its stream, after 3 packets"));
  BOOST_TEST(in.closed());
}

BOOST_AUTO_TEST_SUITE_END()
