// zmq_source and zmq_sink end to end: two graphs run in two threads of this process and talk over
// tcp://127.0.0.1 and ipc://. Packets arrive whole and in order; a slow receiver holds the sender
// to its credit (checked from the counters and, independently, by a raw ROUTER that grants credit
// by hand); drops before a credit-starved zmq_sink are counted; a silent peer fails the stage
// within silence_ms + 1 s; hostile raw peers (garbage, oversized, too many frames, no credit,
// wrong edge, wrong version or graph, a few thousand mutated frames) are refused and counted
// while good senders are served; under CURVE a client with an unknown key gets nothing through;
// an abandoned run ends a zmq_sink that waits for a receiver that never came.
#include <boost/test/unit_test.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <future>
#include <map>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <zmq.h>

#include "actors/runtime.hpp"
#include "connectors/network.hpp"
#include "connectors/wire_codec.hpp"
#include "connectors/zmq_frames.hpp"
#include "graphs/load.hpp"
#include "stages/registry.hpp"
#include "graph_threads.hpp"

using namespace std::chrono_literals;
using loom::packet;
using loom::packet_ptr;
namespace wire = loom::wire;

namespace {

using namespace loom::test;

void require_completed(const graph_run& r) {
  BOOST_REQUIRE_MESSAGE(r.result.status == loom::run_result::outcome::completed, failures(r));
}

// ---- endpoints ----

std::string free_tcp_endpoint() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = 0;
  BOOST_REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
  socklen_t size = sizeof address;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &size);
  ::close(fd);
  return fmt::format("tcp://127.0.0.1:{}", ntohs(address.sin_port));
}

std::string ipc_endpoint() {
  static int count = 0;
  return fmt::format("ipc:///tmp/loom-zmq-stages-{}-{}", getpid(), count++);
}

void configure_insecure(std::string graph_hash = "") {
  loom::configure_network({loom::security::insecure(), "test-node", std::move(graph_hash)});
}

// ---- raw peers ----

struct raw_socket {
  void* context;
  void* socket;
  raw_socket(int type, const std::string& endpoint, bool bind) {
    context = zmq_ctx_new();
    socket = zmq_socket(context, type);
    int linger = 0, timeout = 3000;
    zmq_setsockopt(socket, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt(socket, ZMQ_RCVTIMEO, &timeout, sizeof timeout);
    zmq_setsockopt(socket, ZMQ_SNDTIMEO, &timeout, sizeof timeout);
    BOOST_REQUIRE((bind ? zmq_bind(socket, endpoint.c_str())
                        : zmq_connect(socket, endpoint.c_str())) == 0);
  }
  ~raw_socket() {
    zmq_close(socket);
    zmq_ctx_term(context);
  }

  // A DEALER's frames (for a ROUTER the first is the peer's identity).
  void send_frames(const std::vector<std::string>& frames) {
    for (std::size_t i = 0; i < frames.size(); ++i)
      BOOST_REQUIRE(zmq_send(socket, frames[i].data(), frames[i].size(),
                             i + 1 < frames.size() ? ZMQ_SNDMORE : 0) >= 0);
  }
  void send(const wire::encoded_message& m) { BOOST_REQUIRE(wire::send_message(socket, m)); }

  std::optional<std::vector<std::string>> receive_frames(int timeout_ms = 3000) {
    zmq_setsockopt(socket, ZMQ_RCVTIMEO, &timeout_ms, sizeof timeout_ms);
    std::vector<std::string> frames;
    for (;;) {
      zmq_msg_t m;
      zmq_msg_init(&m);
      if (zmq_msg_recv(&m, socket, 0) < 0) {
        zmq_msg_close(&m);
        return std::nullopt;
      }
      frames.emplace_back(static_cast<const char*>(zmq_msg_data(&m)), zmq_msg_size(&m));
      const bool more = zmq_msg_more(&m);
      zmq_msg_close(&m);
      if (!more) return frames;
    }
  }
};

loom::buffer buffer_of(const std::string& bytes) {
  auto b = loom::buffer::allocate(bytes.size());
  std::memcpy(b.data(), bytes.data(), bytes.size());
  return b;
}

std::string text_of(const loom::buffer& b) {
  return {reinterpret_cast<const char*>(b.data()), b.size()};
}

std::vector<std::string> frames_of(const wire::encoded_message& m) {
  std::vector<std::string> out{text_of(m.header)};
  for (const auto& p : m.payloads) out.push_back(text_of(p));
  return out;
}

// Decodes frames received by a raw peer (after any identity frame).
wire::frame decode_frames(const std::vector<std::string>& frames, std::size_t first = 0) {
  std::vector<loom::buffer> payloads;
  for (std::size_t i = first + 1; i < frames.size(); ++i) payloads.push_back(buffer_of(frames[i]));
  return wire::decode(buffer_of(frames.at(first)), payloads, "test");
}

wire::hello test_hello(std::string graph_hash = "") {
  wire::hello h;
  h.loom_version = "test";
  h.graph_hash = std::move(graph_hash);
  h.node_name = "raw-peer";
  return h;
}

packet small_packet(std::uint64_t stream, std::uint64_t sequence) {
  packet p;
  p.stream_id = stream;
  p.sequence = sequence;
  p.created_ns = loom::steady_now_ns();
  auto t = loom::tensor::zeros(loom::dtype::f32, {2, 3});
  p.tensors.push_back({"data", t});
  p.metadata.emplace_back("origin", "raw");
  return p;
}

// A raw DEALER that says hello to a zmq_source and reads its hello and credit.
std::uint32_t handshake(raw_socket& peer, const wire::hello& h = test_hello()) {
  peer.send(wire::encode_frame(h));
  auto answer = peer.receive_frames();
  BOOST_REQUIRE(answer);
  BOOST_REQUIRE(std::holds_alternative<wire::hello>(decode_frames(*answer)));
  auto credit = peer.receive_frames();
  BOOST_REQUIRE(credit);
  auto c = decode_frames(*credit);
  BOOST_REQUIRE(std::holds_alternative<wire::credit>(c));
  return std::get<wire::credit>(c).count;
}

// Expects the error frame that answers a refused frame; returns its message.
std::string expect_error(raw_socket& peer) {
  for (;;) {
    auto frames = peer.receive_frames();
    BOOST_REQUIRE_MESSAGE(frames, "no error frame came back");
    auto f = decode_frames(*frames);
    if (std::holds_alternative<wire::heartbeat>(f) || std::holds_alternative<wire::credit>(f))
      continue;
    BOOST_REQUIRE(std::holds_alternative<wire::peer_error>(f));
    return std::get<wire::peer_error>(f).message;
  }
}

// `extra` goes into the source's table, `tx` into the zmq_sink's, `edge` into its input edge.
std::string sender_graph(const std::string& endpoint, int count, const std::string& extra = "",
                         const std::string& edge = "", int stream = 7, const std::string& tx = "") {
  return fmt::format(R"(
[graph]
name = "sender"
version = 1
[stages.src]
type = "synthetic_source"
count = {}
shape = [4, 8]
dtype = "f32"
fresh = true
stream_id = {}
{}
[stages.tx]
type = "zmq_sink"
endpoint = "{}"
bind = false
on_error = "fail"
heartbeat_ms = 100
silence_ms = 2000
{}
inputs.in = {{ from = "src.out" {} }}
)",
                     count, stream, extra, endpoint, tx, edge);
}

std::string receiver_graph(const std::string& endpoint, const std::string& into, int capacity,
                           int senders = 1, const std::string& sink = "") {
  return fmt::format(R"(
[graph]
name = "receiver"
version = 1
[stages.rx]
type = "zmq_source"
endpoint = "{}"
capacity = {}
senders = {}
on_error = "fail"
heartbeat_ms = 100
silence_ms = 2000
{}
)",
                     endpoint, capacity, senders,
                     sink.empty() ? fmt::format(R"([stages.keep]
type = "record_sink"
into = "{}"
inputs.in = {{ from = "rx.out" }})",
                                                into)
                                  : sink);
}

void check_round_trip(const std::string& endpoint, const std::string& into) {
  constexpr int count = 200;
  graph_thread receiver(receiver_graph(endpoint, into, 8));
  graph_thread sender(sender_graph(endpoint, count));
  auto sent = sender.wait();
  auto received = receiver.wait();
  require_completed(sent);
  require_completed(received);

  auto packets = recording(into);
  BOOST_REQUIRE_EQUAL(packets.size(), count);
  const std::size_t bytes_each = 4 * 8 * sizeof(float);
  for (std::size_t i = 0; i < packets.size(); ++i) {
    const auto& p = *packets[i];
    BOOST_TEST(p.sequence == i);
    BOOST_TEST(p.stream_id == 7u);
    // Unpaced synthetic packets carry timestamp_us = created_ns / 1000 at the source: both
    // survived the wire untouched (one host, so created_ns is kept).
    BOOST_TEST(p.timestamp_us == p.created_ns / 1000);
    BOOST_REQUIRE_EQUAL(p.tensors.size(), 1u);
    const auto& t = p.at("data");
    BOOST_TEST((t.type() == loom::dtype::f32));
    BOOST_TEST((t.shape() == loom::shape_t{4, 8}));
    BOOST_TEST(has_synthetic_pattern(t));
  }
  BOOST_TEST(counter(received, "rx", "wire_packets_received") == count);
  BOOST_TEST(counter(received, "rx", "wire_bytes_received") == count * bytes_each);
  BOOST_TEST(counter(received, "rx", "refused_frames") == 0u);
  BOOST_TEST(counter(received, "rx", "peers") == 1u);
  BOOST_TEST(counter(sent, "tx", "wire_packets_sent") == count);
  BOOST_TEST(counter(sent, "tx", "wire_bytes_sent") == count * bytes_each);
  BOOST_TEST(received.result.stats.sinks.at("keep").packets == count);
}

}  // namespace

// First: once insecure mode is asked for, every later log line of the process carries its mark.
BOOST_AUTO_TEST_CASE(curve_keeps_out_a_client_whose_key_is_not_allowed) {
  auto own = loom::generate_curve_key_pair();
  auto stranger = loom::generate_curve_key_pair();
  loom::allow_list allowed;
  allowed.add(own.public_key, "own");  // both graphs of this process share its one key pair
  loom::configure_network({loom::security::curve(own, allowed), "curve-node", ""});
  const auto endpoint = free_tcp_endpoint();
  graph_thread receiver(receiver_graph(endpoint, "curve", 4));

  // The intruder knows the server's public key but is not on its allow-list.
  void* context = zmq_ctx_new();
  void* intruder = zmq_socket(context, ZMQ_DEALER);
  int linger = 0;
  zmq_setsockopt(intruder, ZMQ_LINGER, &linger, sizeof linger);
  zmq_setsockopt(intruder, ZMQ_CURVE_SERVERKEY, own.public_key.c_str(), 41);
  zmq_setsockopt(intruder, ZMQ_CURVE_PUBLICKEY, stranger.public_key.c_str(), 41);
  zmq_setsockopt(intruder, ZMQ_CURVE_SECRETKEY, stranger.secret_key.c_str(), 41);
  BOOST_REQUIRE(zmq_connect(intruder, endpoint.c_str()) == 0);
  // ZeroMQ may not even queue it: the CURVE handshake never completes.
  wire::send_message(intruder, wire::encode_frame(test_hello()), true);
  int timeout = 500;
  zmq_setsockopt(intruder, ZMQ_RCVTIMEO, &timeout, sizeof timeout);
  char byte;
  BOOST_TEST(zmq_recv(intruder, &byte, 1, 0) < 0);  // no hello, no credit came back

  graph_thread sender(sender_graph(endpoint, 20, "", "", 7,
                                   fmt::format("server_key = \"{}\"", own.public_key)));
  auto sent = sender.wait();
  auto received = receiver.wait();
  zmq_close(intruder);
  zmq_ctx_term(context);
  require_completed(sent);
  require_completed(received);
  BOOST_TEST(recording("curve").size() == 20u);
  BOOST_TEST(counter(received, "rx", "peers") == 1u);          // the allowed sender alone
  BOOST_TEST(counter(received, "rx", "refused_frames") == 0u);  // the intruder's never arrived
  BOOST_TEST(loom::process_network().zap()->refused() >= 1u);
}

BOOST_AUTO_TEST_CASE(connecting_without_server_key_under_curve_is_refused_at_open) {
  auto own = loom::generate_curve_key_pair();
  loom::configure_network({loom::security::curve(own), "curve-node", ""});
  graph_thread sender(sender_graph(free_tcp_endpoint(), 1));
  auto sent = sender.wait();
  BOOST_REQUIRE(sent.result.status == loom::run_result::outcome::failed);
  BOOST_TEST(failures(sent).find("server_key") != std::string::npos, failures(sent));
}

BOOST_AUTO_TEST_CASE(packets_cross_tcp_whole_and_in_order) {
  configure_insecure();
  check_round_trip(free_tcp_endpoint(), "tcp");
}

BOOST_AUTO_TEST_CASE(packets_cross_ipc_whole_and_in_order_and_the_peer_is_logged) {
  configure_insecure();
  const auto endpoint = ipc_endpoint();
  check_round_trip(endpoint, "ipc");
  // The receiver logged its peer's arrival (the banner is the log writer's: test_multinode).
  graph_thread receiver(receiver_graph(endpoint, "ipc-log", 8));
  graph_thread sender(sender_graph(endpoint, 3));
  sender.wait();
  auto received = receiver.wait();
  bool connected = false;
  for (const auto& line : received.log) {
    if (line.find("connected") == std::string::npos) continue;
    connected = true;
    BOOST_TEST(line.find(endpoint) != std::string::npos, line);
  }
  BOOST_TEST(connected);
}

BOOST_AUTO_TEST_CASE(a_slow_receiver_holds_the_sender_to_its_credit) {
  configure_insecure();
  const auto endpoint = free_tcp_endpoint();
  constexpr int capacity = 4, count = 60;
  graph_thread receiver(receiver_graph(endpoint, "", capacity, 1, R"([stages.slow]
type = "null_sink"
delay_us = 3000
inputs.in = { from = "rx.out", capacity = 2 })"));
  graph_thread sender(sender_graph(endpoint, count));
  auto sent = sender.wait();
  auto received = receiver.wait();
  require_completed(sent);
  require_completed(received);
  BOOST_TEST(received.result.stats.sinks.at("slow").packets == count);
  BOOST_TEST(counter(sent, "tx", "in_flight_peak") <= capacity);
  BOOST_TEST(counter(sent, "tx", "in_flight_peak") >= 1u);
  BOOST_TEST(counter(received, "rx", "in_flight_peak") <= capacity);
  BOOST_TEST(counter(received, "rx", "refused_frames") == 0u);  // never a packet beyond credit
  // The sender spent most of the run waiting for credit: 60 packets at 3 ms each.
  BOOST_TEST(counter(sent, "tx", "credit_wait_ms") >= 60u);
}

BOOST_AUTO_TEST_CASE(drops_before_a_starved_sink_are_counted) {
  configure_insecure();
  const auto endpoint = ipc_endpoint();
  constexpr int count = 300;
  graph_thread receiver(receiver_graph(endpoint, "", 2, 1, R"([stages.slow]
type = "null_sink"
delay_us = 2000
inputs.in = { from = "rx.out", capacity = 1 })"));
  graph_thread sender(
      sender_graph(endpoint, count, "", R"(, capacity = 2, policy = "drop_newest")"));
  auto sent = sender.wait();
  auto received = receiver.wait();
  require_completed(sent);
  require_completed(received);
  const auto& edge = sent.result.stats.edges.at("src.out -> tx.in");
  BOOST_TEST(edge.dropped > 0u);
  BOOST_TEST(edge.sent + edge.dropped == count);
  BOOST_TEST(sent.result.stats.stages.at("tx").dropped == edge.dropped);
  BOOST_TEST(counter(sent, "tx", "wire_packets_sent") == edge.sent);
  BOOST_TEST(counter(received, "rx", "wire_packets_received") == edge.sent);
  BOOST_TEST(received.result.stats.sinks.at("slow").packets == edge.sent);
}

// A raw ROUTER plays the receiver and grants credit by hand: the zmq_sink sends exactly as many
// packets as it was granted, then waits.
BOOST_AUTO_TEST_CASE(zmq_sink_sends_one_packet_per_credit) {
  configure_insecure();
  const auto endpoint = free_tcp_endpoint();
  raw_socket receiver(ZMQ_ROUTER, endpoint, true);
  graph_thread sender(sender_graph(endpoint, 10, "", "", 7, "edge = 3"));

  auto hello = receiver.receive_frames();
  BOOST_REQUIRE(hello && hello->size() == 2);
  const std::string id = hello->at(0);
  BOOST_REQUIRE(std::holds_alternative<wire::hello>(decode_frames(*hello, 1)));
  auto reply = [&](const wire::encoded_message& m) {
    auto frames = frames_of(m);
    frames.insert(frames.begin(), id);
    receiver.send_frames(frames);
  };
  reply(wire::encode_frame(test_hello()));
  std::vector<std::uint64_t> sequences;
  // Reads for `ms` milliseconds (heartbeats come in between) or until bye; true at bye.
  auto take_packets = [&](int ms) {
    reply(wire::encode_frame(wire::heartbeat{1}));  // this raw receiver is alive too
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
    while (std::chrono::steady_clock::now() < deadline) {
      auto frames = receiver.receive_frames(50);
      if (!frames) continue;
      auto f = decode_frames(*frames, 1);
      if (auto* p = std::get_if<wire::packet_frame>(&f)) {
        BOOST_TEST(p->edge_id == 3u);
        sequences.push_back(p->value.sequence);
      } else if (std::holds_alternative<wire::bye>(f)) {
        return true;
      }
    }
    return false;
  };
  reply(wire::encode_frame(wire::credit{3, 3}));
  take_packets(400);
  BOOST_TEST(sequences.size() == 3u);
  reply(wire::encode_frame(wire::credit{3, 2}));
  take_packets(400);
  BOOST_TEST(sequences.size() == 5u);
  reply(wire::encode_frame(wire::credit{3, 100}));
  BOOST_TEST(take_packets(3000));  // the rest, then bye
  BOOST_REQUIRE_EQUAL(sequences.size(), 10u);
  for (std::size_t i = 0; i < sequences.size(); ++i) BOOST_TEST(sequences[i] == i);
  require_completed(sender.wait());
}

BOOST_AUTO_TEST_CASE(a_refusing_receiver_fails_the_connecting_sink_with_its_message) {
  configure_insecure();
  const auto endpoint = free_tcp_endpoint();
  raw_socket receiver(ZMQ_ROUTER, endpoint, true);
  graph_thread sender(sender_graph(endpoint, 5));
  auto hello = receiver.receive_frames();
  BOOST_REQUIRE(hello);
  auto frames = frames_of(wire::encode_frame(wire::peer_error{"go away, says the test"}));
  frames.insert(frames.begin(), hello->at(0));
  receiver.send_frames(frames);
  auto sent = sender.wait();
  BOOST_REQUIRE(sent.result.status == loom::run_result::outcome::failed);
  BOOST_TEST(failures(sent).find("go away, says the test") != std::string::npos, failures(sent));
  BOOST_TEST(failures(sent).find(endpoint) != std::string::npos, failures(sent));
}

BOOST_AUTO_TEST_CASE(a_silent_sender_fails_the_source_within_its_bound) {
  configure_insecure();
  const auto endpoint = free_tcp_endpoint();
  auto graph = receiver_graph(endpoint, "silent", 4);
  graph.replace(graph.find("silence_ms = 2000"), 17, "silence_ms = 400");
  graph_thread receiver(graph);
  raw_socket peer(ZMQ_DEALER, endpoint, false);
  handshake(peer);
  const auto heard = std::chrono::steady_clock::now();
  auto received = receiver.wait();
  const double after = std::chrono::duration<double>(std::chrono::steady_clock::now() - heard).count();
  BOOST_REQUIRE(received.result.status == loom::run_result::outcome::failed);
  BOOST_TEST(after < 0.4 + 1.0);
  BOOST_TEST(after >= 0.35);
  const auto why = failures(received);
  BOOST_TEST(why.find(endpoint) != std::string::npos, why);
  BOOST_TEST(why.find("silent") != std::string::npos, why);
}

BOOST_AUTO_TEST_CASE(a_silent_receiver_fails_the_sink_within_its_bound) {
  configure_insecure();
  const auto endpoint = ipc_endpoint();
  raw_socket receiver(ZMQ_ROUTER, endpoint, true);
  auto graph = sender_graph(endpoint, 5);
  graph.replace(graph.find("silence_ms = 2000"), 17, "silence_ms = 400");
  graph_thread sender(graph);
  auto hello = receiver.receive_frames();
  BOOST_REQUIRE(hello);
  auto frames = frames_of(wire::encode_frame(test_hello()));
  frames.insert(frames.begin(), hello->at(0));
  receiver.send_frames(frames);
  const auto answered = std::chrono::steady_clock::now();
  auto sent = sender.wait();
  const double after =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - answered).count();
  BOOST_REQUIRE(sent.result.status == loom::run_result::outcome::failed);
  BOOST_TEST(after < 0.4 + 1.0);
  BOOST_TEST(failures(sent).find(endpoint) != std::string::npos, failures(sent));
}

// Hostile peers are refused, each frame answered with an error and counted, while two good
// senders are served; the second starts after the last hostile frame was answered, so the count
// is exact when the source ends.
BOOST_AUTO_TEST_CASE(hostile_peers_are_refused_and_counted_while_good_ones_are_served) {
  configure_insecure("graph-A");
  const auto endpoint = free_tcp_endpoint();
  graph_thread receiver(receiver_graph(endpoint, "hostile", 4, 2));
  graph_thread first(sender_graph(endpoint, 300, "rate_hz = 1000", "", 1));
  std::uint64_t hostile_frames = 0;

  auto refused = [&](raw_socket& peer, const std::vector<std::string>& frames) {
    peer.send_frames(frames);
    ++hostile_frames;
    return expect_error(peer);
  };
  {
    raw_socket peer(ZMQ_DEALER, endpoint, false);
    refused(peer, {"not a loom frame"});  // 16 bytes: a word count, but no valid table
  }
  {
    raw_socket peer(ZMQ_DEALER, endpoint, false);
    refused(peer, {"odd size"});
  }
  {
    raw_socket peer(ZMQ_DEALER, endpoint, false);
    const auto why = refused(peer, {std::string((2 << 20) + 8, '\0')});
    BOOST_TEST(why.find("max_header_bytes") != std::string::npos, why);
  }
  {
    raw_socket peer(ZMQ_DEALER, endpoint, false);
    std::vector<std::string> many(70, std::string(8, '\0'));
    const auto why = refused(peer, many);
    BOOST_TEST(why.find("frames") != std::string::npos, why);
  }
  {
    raw_socket peer(ZMQ_DEALER, endpoint, false);
    refused(peer, frames_of(wire::encode_packet(small_packet(99, 0), 0)));  // before hello
  }
  {
    raw_socket peer(ZMQ_DEALER, endpoint, false);
    auto h = test_hello();
    h.protocol_version = 99;
    const auto why = refused(peer, frames_of(wire::encode_frame(h)));
    BOOST_TEST(why.find("wire protocol 99") != std::string::npos, why);
  }
  {
    raw_socket peer(ZMQ_DEALER, endpoint, false);
    const auto why = refused(peer, frames_of(wire::encode_frame(test_hello("graph-B"))));
    BOOST_TEST(why.find("graph-B") != std::string::npos, why);
    BOOST_TEST(why.find("graph-A") != std::string::npos, why);
  }
  {
    raw_socket peer(ZMQ_DEALER, endpoint, false);
    handshake(peer);
    const auto why = refused(peer, frames_of(wire::encode_packet(small_packet(98, 0), 5)));
    BOOST_TEST(why.find("edge 5") != std::string::npos, why);
  }
  {
    // Mutations of valid frames from one peer: bytes flipped, frames cut or grown, frames
    // dropped or added. The peer is refused from its first frame on; each later frame is still
    // read, decoded (or not) and refused.
    raw_socket peer(ZMQ_DEALER, endpoint, false);
    refused(peer, {"garbage!"});
    std::vector<std::vector<std::string>> valid = {
        frames_of(wire::encode_frame(test_hello("graph-A"))),
        frames_of(wire::encode_packet(small_packet(97, 0), 0)),
        frames_of(wire::encode_frame(wire::credit{0, 4})),
        frames_of(wire::encode_frame(wire::heartbeat{1})),
        frames_of(wire::encode_frame(wire::bye{"bye"})),
    };
    std::mt19937 random(12345);
    for (int round = 0; round < 3000; ++round) {
      auto frames = valid[random() % valid.size()];
      auto& target = frames[random() % frames.size()];
      switch (random() % 4) {
        case 0:
          for (int flips = 1 + random() % 4; flips > 0 && !target.empty(); --flips)
            target[random() % target.size()] ^= static_cast<char>(1 + random() % 255);
          break;
        case 1: target.resize(random() % (target.size() + 1)); break;
        case 2: target.append(8 * (1 + random() % 4), static_cast<char>(random())); break;
        case 3:
          if (frames.size() > 1 && random() % 2) frames.pop_back();
          else frames.push_back(std::string(random() % 32, 'x'));
          break;
      }
      refused(peer, frames);
    }
  }

  graph_thread second(sender_graph(endpoint, 50, "", "", 2));
  require_completed(first.wait());
  require_completed(second.wait());
  auto received = receiver.wait();
  require_completed(received);
  BOOST_TEST(counter(received, "rx", "refused_frames") == hostile_frames);
  std::map<std::uint64_t, std::vector<std::uint64_t>> by_stream;
  for (const auto& p : recording("hostile")) by_stream[p->stream_id].push_back(p->sequence);
  BOOST_TEST(by_stream.size() == 2u);
  auto in_order = [](const std::vector<std::uint64_t>& s, std::size_t n) {
    if (s.size() != n) return false;
    for (std::size_t i = 0; i < n; ++i)
      if (s[i] != i) return false;
    return true;
  };
  BOOST_TEST(in_order(by_stream[1], 300));
  BOOST_TEST(in_order(by_stream[2], 50));
}

// A raw sender streams 64 packets, a millisecond apart, into a zmq_source of capacity 8 whose
// consumer keeps up: credit comes back in batches of half the capacity, not a frame per packet,
// and what is owed short of a batch comes back once the sender goes quiet, so that it can end.
BOOST_AUTO_TEST_CASE(credit_comes_back_in_batches_and_the_rest_when_the_sender_is_quiet) {
  configure_insecure();
  const auto endpoint = ipc_endpoint();
  graph_thread receiver(receiver_graph(endpoint, "", 8, 1, R"([stages.fast]
type = "null_sink"
inputs.in = "rx.out")"));
  constexpr std::uint64_t total = 64;
  std::uint64_t credit = 0, sent = 0, returned = 0, frames = 0;
  raw_socket peer(ZMQ_DEALER, endpoint, false);
  credit = handshake(peer);
  BOOST_TEST(credit == 8u);
  auto read_credit = [&](int wait_ms) {
    auto got = peer.receive_frames(wait_ms);
    if (!got) return false;
    const auto frame = decode_frames(*got);
    if (auto* c = std::get_if<wire::credit>(&frame)) {
      returned += c->count;
      credit += c->count;
      ++frames;
    }
    return true;
  };
  // A packet a millisecond: the source takes each one alone, so a credit frame per take would be
  // a frame per packet.
  while (sent < total) {
    if (credit == 0) {
      read_credit(1000);
      continue;
    }
    peer.send(wire::encode_packet(small_packet(5, sent++), 0));
    --credit;
    std::this_thread::sleep_for(1ms);
    while (read_credit(0)) {
    }
  }
  // The last packets leave a remainder short of a batch: it comes back after the quiet.
  const auto deadline = std::chrono::steady_clock::now() + 2s;
  while (returned < total && std::chrono::steady_clock::now() < deadline) read_credit(100);
  BOOST_TEST(returned == total);
  // 16 batches of 4 at best; a frame per packet (64) before batching. A stall of the test's
  // thread longer than the linger can split a batch: some room for that.
  BOOST_TEST(frames <= 24u, frames << " credit frames for " << total << " packets");
  peer.send(wire::encode_frame(wire::bye{"done"}));
  require_completed(receiver.wait());
}

// A raw sender spends every credit it was given while the source's consumer is asleep (so no
// credit can come back), then sends one packet more: that one is refused, the others arrive.
BOOST_AUTO_TEST_CASE(a_packet_beyond_credit_is_refused) {
  configure_insecure();
  const auto endpoint = ipc_endpoint();
  graph_thread receiver(receiver_graph(endpoint, "", 2, 1, R"([stages.asleep]
type = "null_sink"
delay_us = 500000
inputs.in = { from = "rx.out", capacity = 1 })"));
  std::uint64_t credit = 0;
  std::uint64_t sent = 0;
  {
    raw_socket peer(ZMQ_DEALER, endpoint, false);
    credit = handshake(peer);
    // Spend credit as it comes, until none came for 150 ms: the pipeline is full and asleep.
    auto last_credit = std::chrono::steady_clock::now();
    while (std::chrono::steady_clock::now() - last_credit < 150ms) {
      for (; credit > 0; --credit) peer.send(wire::encode_packet(small_packet(99, sent++), 0));
      auto frames = peer.receive_frames(20);
      if (!frames) continue;
      auto frame = decode_frames(*frames);
      if (auto* c = std::get_if<wire::credit>(&frame)) {
        credit += c->count;
        last_credit = std::chrono::steady_clock::now();
      }
    }
    peer.send(wire::encode_packet(small_packet(99, sent), 0));
    const auto why = expect_error(peer);
    BOOST_TEST(why.find("without credit") != std::string::npos, why);
  }
  {
    raw_socket closer(ZMQ_DEALER, endpoint, false);  // the one sender the source waits for
    handshake(closer);
    closer.send(wire::encode_frame(wire::bye{"done"}));
    auto received = receiver.wait();
    require_completed(received);
    BOOST_TEST(counter(received, "rx", "refused_frames") == 1u);
    BOOST_TEST(counter(received, "rx", "wire_packets_received") == sent);
    BOOST_TEST(received.result.stats.sinks.at("asleep").packets == sent);
  }
}

// Nothing ever binds the sink's endpoint, so it waits for credit that never comes; a second
// interrupt abandons the run, and the wait has to notice and give up instead of hanging.
BOOST_AUTO_TEST_CASE(an_abandoned_run_ends_a_sink_waiting_for_a_receiver_that_never_came) {
  configure_insecure();
  const auto endpoint = free_tcp_endpoint();
  auto loaded = loom::load_graph_text(sender_graph(endpoint, 5), "test.toml", {}, registry());
  BOOST_REQUIRE(loaded.graph);
  std::atomic<int> stops{0};
  std::mutex log_mutex;
  std::vector<std::string> log;
  loom::run_options options;
  options.stop_requests = &stops;
  options.log = [&](const std::string& line) {
    std::lock_guard lock(log_mutex);
    log.push_back(line);
  };
  auto returned = std::async(std::launch::async, [&] {
    const auto began = std::chrono::steady_clock::now();
    auto result = loom::run_graph(*loaded.graph, options);
    return std::make_pair(std::move(result), std::chrono::steady_clock::now() - began);
  });
  std::this_thread::sleep_for(300ms);
  stops = 2;
  // A hung run would keep this test forever; fail it instead (the run's thread is left behind).
  BOOST_REQUIRE_MESSAGE(returned.wait_for(10s) == std::future_status::ready,
                        "run_graph did not return within 10 s of the second interrupt");
  auto [result, took] = returned.get();
  BOOST_TEST(std::chrono::duration<double>(took).count() < 3.0);
  BOOST_TEST((result.status == loom::run_result::outcome::interrupted));
  std::lock_guard lock(log_mutex);
  bool gave_up = false;
  for (const auto& line : log)
    gave_up = gave_up ||
              line.find("run abandoned while waiting for credit from " + endpoint) !=
                  std::string::npos;
  std::string all;
  for (const auto& line : log) all += line + "\n";
  BOOST_TEST(gave_up, all);
}
