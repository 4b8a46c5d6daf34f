// ZeroMQ framing of the wire codec: payloads cross inproc sockets as the very memory the sender's
// tensor held, stay alive until ZeroMQ lets go of them, arrive over tcp bit for bit with only
// misaligned frames copied, and hostile peers (too many frames, garbage) are refused while the
// socket stays usable. Also: the socket settings land on the socket.
#include <boost/test/unit_test.hpp>

#include <zmq.h>

#include <atomic>
#include <cstring>
#include <string>
#include <vector>

#include "connectors/zmq_frames.hpp"
#include "patterned_tensor.hpp"

namespace lw = loom::wire;
using loom::buffer;
using loom::dtype;
using loom::packet;
using loom::shape_t;
using loom::tensor;

namespace {

using loom::test::bytes_of;
using loom::test::patterned;

// A context and a connected pair of sockets, closed in order.
struct socket_pair {
  void* context = zmq_ctx_new();
  void* sender = nullptr;
  void* receiver = nullptr;
  std::string endpoint;

  socket_pair(int send_type, int receive_type, const std::string& transport,
              lw::socket_settings settings = {}) {
    settings.receive_timeout_ms = 2000;
    settings.send_timeout_ms = 2000;
    sender = zmq_socket(context, send_type);
    receiver = zmq_socket(context, receive_type);
    lw::apply_settings(receiver, settings, lw::socket_role::binds);
    lw::apply_settings(sender, settings, lw::socket_role::connects);
    const std::string bind_to =
        transport == "inproc" ? "inproc://frames" : "tcp://127.0.0.1:*";
    BOOST_TEST_REQUIRE(zmq_bind(receiver, bind_to.c_str()) == 0);
    char bound[256];
    std::size_t size = sizeof bound;
    zmq_getsockopt(receiver, ZMQ_LAST_ENDPOINT, bound, &size);
    endpoint = bound;
    BOOST_TEST_REQUIRE(zmq_connect(sender, endpoint.c_str()) == 0);
  }
  ~socket_pair() {
    zmq_close(sender);
    zmq_close(receiver);
    zmq_ctx_term(context);
  }
};

packet sample_packet() {
  packet p;
  p.stream_id = 2;
  p.sequence = 77;
  p.timestamp_us = 1000;
  p.created_ns = 5;
  p.metadata = {{"camera", "front"}};
  p.set("image", patterned(dtype::u8, {4, 6, 3}, 1));
  p.set("features", patterned(dtype::f32, {2, 300}, 2));
  p.set("ids", patterned(dtype::i64, {9}, 3));
  p.set("half", patterned(dtype::bf16, {3, 3}, 4));
  p.set("nothing", patterned(dtype::f16, {0, 4}, 5));
  p.set("scalar", patterned(dtype::i32, {}, 6));
  p.set("large", patterned(dtype::f32, {128, 128}, 7));
  return p;
}

lw::packet_frame receive_packet(socket_pair& sockets) {
  auto received = lw::receive_message(sockets.receiver, sockets.endpoint);
  BOOST_TEST_REQUIRE(received.has_value());
  auto decoded = lw::decode(received->header, received->payloads, sockets.endpoint);
  auto* got = std::get_if<lw::packet_frame>(&decoded);
  BOOST_TEST_REQUIRE(got != nullptr);
  return std::move(*got);
}

// Sends raw frames, as a peer that does not use loom's codec would.
void send_raw(void* socket, const std::vector<std::string>& frames) {
  for (std::size_t i = 0; i < frames.size(); ++i)
    zmq_send(socket, frames[i].data(), frames[i].size(), i + 1 < frames.size() ? ZMQ_SNDMORE : 0);
}

}  // namespace

BOOST_AUTO_TEST_CASE(inproc_payloads_are_the_senders_memory) {
  socket_pair sockets(ZMQ_PAIR, ZMQ_PAIR, "inproc");
  const auto p = sample_packet();
  BOOST_TEST_REQUIRE(lw::send_message(sockets.sender, lw::encode_packet(p, 5)));

  auto received = lw::receive_message(sockets.receiver, sockets.endpoint);
  BOOST_TEST_REQUIRE(received.has_value());
  BOOST_TEST_REQUIRE(received->payloads.size() == p.tensors.size());
  for (std::size_t i = 0; i < p.tensors.size(); ++i) {
    // inproc hands over the zmq_msg_t itself: the frame ZeroMQ delivered is the one the sender
    // built, so its data pointer is the sender's tensor memory — nothing was copied on send.
    if (p.tensors[i].value.nbytes() > 0)
      BOOST_TEST(received->payloads[i].data() == p.tensors[i].value.raw());
  }
  auto decoded = lw::decode(received->header, received->payloads, sockets.endpoint);
  const auto& got = std::get<lw::packet_frame>(decoded);
  BOOST_TEST(got.edge_id == 5u);
  BOOST_TEST(got.bytes_copied == 0u);
  BOOST_TEST_REQUIRE(got.value.tensors.size() == p.tensors.size());
  for (std::size_t i = 0; i < p.tensors.size(); ++i) {
    const auto& t = got.value.tensors[i].value;
    BOOST_TEST(t.memory().same_memory(received->payloads[i]));
    BOOST_TEST((bytes_of(t) == bytes_of(p.tensors[i].value)));
    BOOST_TEST((t.shape() == p.tensors[i].value.shape()));
  }
}

BOOST_AUTO_TEST_CASE(sent_memory_lives_until_zeromq_lets_go) {
  socket_pair sockets(ZMQ_PUSH, ZMQ_PULL, "inproc");
  std::atomic<bool> released{false};
  auto backing = buffer::allocate(4096);
  std::vector<std::byte> expected(4096);
  for (std::size_t i = 0; i < expected.size(); ++i)
    expected[i] = backing.data()[i] = static_cast<std::byte>(i * 7 + 3);
  {
    packet p;
    auto memory = buffer::adopt(backing.data(), backing.size(),
                                [backing, &released] { released = true; });
    p.set("x", tensor(dtype::u8, {4096}, memory));
    BOOST_TEST_REQUIRE(lw::send_message(sockets.sender, lw::encode_packet(p, 0)));
  }
  backing = buffer();
  // Every loom reference is gone; the queued frame alone keeps the memory.
  BOOST_TEST(!released);
  auto got = receive_packet(sockets);
  BOOST_TEST(!released);
  BOOST_TEST((bytes_of(got.value.at("x")) == expected));
  got = {};
  BOOST_TEST(released);
}

BOOST_AUTO_TEST_CASE(tcp_round_trip_copies_only_misaligned_payloads) {
  socket_pair sockets(ZMQ_PUSH, ZMQ_PULL, "tcp");
  const auto p = sample_packet();
  for (int round = 0; round < 20; ++round)
    BOOST_TEST_REQUIRE(lw::send_message(sockets.sender, lw::encode_packet(p, round)));
  std::size_t copied = 0, received_bytes = 0;
  for (int round = 0; round < 20; ++round) {
    auto received = lw::receive_message(sockets.receiver, sockets.endpoint);
    BOOST_TEST_REQUIRE(received.has_value());
    auto decoded = lw::decode(received->header, received->payloads, sockets.endpoint);
    const auto& got = std::get<lw::packet_frame>(decoded);
    BOOST_TEST(got.edge_id == static_cast<std::uint32_t>(round));
    std::size_t misaligned_bytes = 0;
    for (std::size_t i = 0; i < p.tensors.size(); ++i) {
      const auto& frame = received->payloads[i];
      const auto& t = got.value.tensors[i].value;
      const auto element = loom::size_of(t.type());
      const bool aligned = reinterpret_cast<std::uintptr_t>(frame.data()) % element == 0;
      if (frame.size() == 0 || aligned) {
        // The tensor lies in the received frame itself.
        BOOST_TEST(t.memory().same_memory(frame));
        BOOST_TEST(t.raw() == frame.data());
      } else {
        misaligned_bytes += frame.size();
      }
      BOOST_TEST((bytes_of(t) == bytes_of(p.tensors[i].value)));
    }
    BOOST_TEST(got.bytes_copied == misaligned_bytes);
    copied += got.bytes_copied;
    received_bytes += got.value.payload_bytes();
  }
  BOOST_TEST_MESSAGE("tcp: " << copied << " of " << received_bytes
                             << " payload bytes arrived misaligned and were copied");
}

BOOST_AUTO_TEST_CASE(a_received_frame_keeps_its_bytes_when_it_moves) {
  socket_pair sockets(ZMQ_PUSH, ZMQ_PULL, "tcp");
  // Small enough that ZeroMQ keeps the bytes inside the zmq_msg_t itself: they move with it.
  send_raw(sockets.sender, {"tiny", "a frame too long to fit inside its own zmq_msg_t"});
  auto first = lw::receive_frame(sockets.receiver, 0);
  BOOST_TEST_REQUIRE(first.has_value());
  lw::frame_message moved(std::move(*first));
  BOOST_TEST(first->size() == 0u);  // what a frame leaves behind when it moves is empty
  BOOST_TEST(moved.more());
  BOOST_TEST(std::string(reinterpret_cast<const char*>(moved.data()), moved.size()) == "tiny");
  auto rest = lw::complete_message(sockets.receiver, std::move(moved), sockets.endpoint);
  BOOST_TEST(std::string(reinterpret_cast<const char*>(rest.header.data()), rest.header.size()) ==
             "tiny");
  BOOST_TEST_REQUIRE(rest.payloads.size() == 1u);
  BOOST_TEST(std::string(reinterpret_cast<const char*>(rest.payloads[0].data()),
                         rest.payloads[0].size()) ==
             "a frame too long to fit inside its own zmq_msg_t");
}

BOOST_AUTO_TEST_CASE(too_many_frames_are_refused_and_the_socket_stays_usable) {
  socket_pair sockets(ZMQ_PAIR, ZMQ_PAIR, "inproc");
  lw::wire_limits limits;
  limits.max_tensors = 8;
  send_raw(sockets.sender, std::vector<std::string>(50, "frame"));
  try {
    lw::receive_message(sockets.receiver, sockets.endpoint, limits);
    BOOST_FAIL("a message of 50 frames was accepted");
  } catch (const lw::wire_error& e) {
    const std::string message = e.what();
    BOOST_TEST_INFO(message);
    BOOST_TEST(message.find("50 frames, over the limit of 9") != std::string::npos);
    BOOST_TEST(message.find("inproc://frames") != std::string::npos);
  }
  BOOST_TEST_REQUIRE(lw::send_message(sockets.sender, lw::encode_frame(lw::credit{1, 2})));
  auto received = lw::receive_message(sockets.receiver, sockets.endpoint, limits);
  BOOST_TEST_REQUIRE(received.has_value());
  auto c = std::get<lw::credit>(lw::decode(received->header, received->payloads, "p"));
  BOOST_TEST(c.count == 2u);
}

BOOST_AUTO_TEST_CASE(garbage_from_a_raw_peer_is_refused) {
  socket_pair sockets(ZMQ_PUSH, ZMQ_PULL, "tcp");
  send_raw(sockets.sender, {"hello, is this loom?"});
  send_raw(sockets.sender, {std::string(16, '\xff'), "payload"});
  for (int i = 0; i < 2; ++i) {
    auto received = lw::receive_message(sockets.receiver, sockets.endpoint);
    BOOST_TEST_REQUIRE(received.has_value());
    BOOST_CHECK_THROW(lw::decode(received->header, received->payloads, sockets.endpoint),
                      lw::wire_error);
  }
}

BOOST_AUTO_TEST_CASE(timeouts_and_would_block_are_reported_not_thrown) {
  void* context = zmq_ctx_new();
  void* push = zmq_socket(context, ZMQ_PUSH);
  void* pull = zmq_socket(context, ZMQ_PULL);
  lw::socket_settings settings;
  settings.receive_timeout_ms = 50;
  settings.send_timeout_ms = 50;
  lw::apply_settings(push, settings, lw::socket_role::binds);
  lw::apply_settings(pull, settings, lw::socket_role::binds);
  BOOST_TEST_REQUIRE(zmq_bind(push, "inproc://nobody") == 0);
  BOOST_TEST_REQUIRE(zmq_bind(pull, "inproc://silent") == 0);

  packet p;
  auto memory = buffer::allocate(64);
  p.set("x", tensor(dtype::u8, {64}, memory));
  {
    // No peer: nothing is queued, and the frames' references are handed back.
    auto message = lw::encode_packet(p, 0);
    BOOST_TEST(!lw::send_message(push, message, true));
    BOOST_TEST(!lw::send_message(push, message));
  }
  p = packet();
  BOOST_TEST(memory.use_count() == 1);
  BOOST_TEST(!lw::receive_message(pull, "inproc://silent").has_value());
  BOOST_TEST(!lw::receive_message(pull, "inproc://silent", {}, true).has_value());
  zmq_close(push);
  zmq_close(pull);
  zmq_ctx_term(context);
}

BOOST_AUTO_TEST_CASE(frames_over_maxmsgsize_drop_the_connection) {
  lw::socket_settings settings;
  settings.max_frame_bytes = 1024;
  socket_pair sockets(ZMQ_PUSH, ZMQ_PULL, "tcp", settings);
  packet p;
  p.set("big", patterned(dtype::u8, {4096}, 1));
  BOOST_TEST_REQUIRE(lw::send_message(sockets.sender, lw::encode_packet(p, 0)));
  // libzmq closes the connection on the oversized frame instead of buffering it.
  BOOST_TEST(!lw::receive_message(sockets.receiver, sockets.endpoint).has_value());
}

BOOST_AUTO_TEST_CASE(settings_land_on_the_socket) {
  void* context = zmq_ctx_new();
  void* connecting = zmq_socket(context, ZMQ_DEALER);
  void* binding = zmq_socket(context, ZMQ_ROUTER);
  lw::socket_settings settings;
  settings.send_high_water_mark = 11;
  settings.receive_high_water_mark = 12;
  settings.send_timeout_ms = 13;
  settings.receive_timeout_ms = 14;
  settings.max_frame_bytes = 15000;
  settings.heartbeat_interval_ms = 1600;
  settings.heartbeat_timeout_ms = 1700;
  settings.heartbeat_ttl_ms = 1800;
  settings.linger_ms = 19;
  lw::apply_settings(connecting, settings, lw::socket_role::connects);
  lw::apply_settings(binding, settings, lw::socket_role::binds);

  auto get_int = [](void* socket, int option) {
    int value = -12345;
    std::size_t size = sizeof value;
    BOOST_TEST_REQUIRE(zmq_getsockopt(socket, option, &value, &size) == 0);
    return value;
  };
  BOOST_TEST(get_int(connecting, ZMQ_SNDHWM) == 11);
  BOOST_TEST(get_int(connecting, ZMQ_RCVHWM) == 12);
  BOOST_TEST(get_int(connecting, ZMQ_SNDTIMEO) == 13);
  BOOST_TEST(get_int(connecting, ZMQ_RCVTIMEO) == 14);
  BOOST_TEST(get_int(connecting, ZMQ_IMMEDIATE) == 1);
  BOOST_TEST(get_int(binding, ZMQ_IMMEDIATE) == 0);
  BOOST_TEST(get_int(connecting, ZMQ_HEARTBEAT_IVL) == 1600);
  BOOST_TEST(get_int(connecting, ZMQ_HEARTBEAT_TIMEOUT) == 1700);
  BOOST_TEST(get_int(connecting, ZMQ_HEARTBEAT_TTL) == 1800);
  BOOST_TEST(get_int(connecting, ZMQ_LINGER) == 19);
  std::int64_t max_size = 0;
  std::size_t size = sizeof max_size;
  zmq_getsockopt(binding, ZMQ_MAXMSGSIZE, &max_size, &size);
  BOOST_TEST(max_size == 15000);

  // ROUTER_MANDATORY is write-only; its effect shows: a message to an unknown peer fails.
  zmq_send(binding, "nobody", 6, ZMQ_SNDMORE | ZMQ_DONTWAIT);
  BOOST_TEST(zmq_errno() == EHOSTUNREACH);

  settings.linger_ms = -1;
  BOOST_CHECK_THROW(lw::apply_settings(binding, settings, lw::socket_role::binds),
                    lw::wire_error);
  zmq_close(connecting);
  zmq_close(binding);
  zmq_ctx_term(context);
}
