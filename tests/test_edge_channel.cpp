// edge_channel on its own, both ends in this process over ipc://: a receiver that waits inside
// take() (the socket lent to its thread, its own thread off the socket) still heartbeats its
// sender and hears it, whichever end binds; packets that came in meanwhile are taken in one call;
// and a silent sender's failure reaches a take() that is waiting.
#include <boost/test/unit_test.hpp>

#include <unistd.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "connectors/edge_channel.hpp"
#include "connectors/network.hpp"
#include "devices/tensor.hpp"

using namespace std::chrono_literals;
using loom::edge_channel;
using loom::edge_options;
using loom::edge_role;
using clock_type = std::chrono::steady_clock;

namespace {

std::string ipc_endpoint() {
  static int count = 0;
  return fmt::format("ipc:///tmp/loom-edge-channel-{}-{}", getpid(), count++);
}

std::shared_ptr<loom::network> insecure_network() {
  loom::configure_network({loom::security::insecure(), "test-node", ""});
  return loom::shared_process_network();
}

// Heartbeats every 50 ms, silence after 600 (a stall of the test's threads on a loaded machine
// stays well below it): a wait of two seconds without heartbeats fails the channel.
constexpr auto silence = 600ms;

edge_options options_for(const std::string& endpoint, bool bind) {
  edge_options o;
  o.endpoint = endpoint;
  o.bind = bind;
  o.heartbeat = 50ms;
  o.silence = silence;
  return o;
}

loom::packet numbered(std::uint64_t sequence) {
  loom::packet p;
  p.stream_id = 3;
  p.sequence = sequence;
  p.tensors.push_back({"data", loom::tensor::zeros(loom::dtype::u8, {64})});
  return p;
}

// Pushes `p`, waiting up to two seconds for credit.
void push(edge_channel& out, const loom::packet& p) {
  const auto deadline = clock_type::now() + 2s;
  while (!out.push(p, 50ms)) BOOST_REQUIRE(clock_type::now() < deadline);
}

// The receiver sits in take() for two seconds, over three times its silence, while nothing is
// sent; the sender's thread meanwhile only answers. Both ends must still hold each other for
// alive, and the packet sent after that must arrive.
void a_waiting_receiver_stays_in_touch(bool receiver_binds) {
  auto net = insecure_network();
  const auto endpoint = ipc_endpoint();
  edge_channel in(edge_role::receives_data, options_for(endpoint, receiver_binds), net);
  edge_channel out(edge_role::sends_data, options_for(endpoint, !receiver_binds), net);
  // The hello has crossed once the sender holds its first credit.
  push(out, numbered(0));
  std::vector<loom::packet_ptr> got;
  const auto deadline = clock_type::now() + 2s;
  while (got.empty() && clock_type::now() < deadline) got = in.take(100ms);
  BOOST_REQUIRE_EQUAL(got.size(), 1u);

  const auto quiet_until = clock_type::now() + 2s;
  while (clock_type::now() < quiet_until) {
    BOOST_TEST(in.take(100ms).empty());
    BOOST_REQUIRE_NO_THROW(out.check());
  }
  BOOST_REQUIRE_NO_THROW(in.check());
  push(out, numbered(1));
  got.clear();
  const auto second_deadline = clock_type::now() + 2s;
  while (got.empty() && clock_type::now() < second_deadline) got = in.take(100ms);
  BOOST_REQUIRE_EQUAL(got.size(), 1u);
  BOOST_TEST(got.front()->sequence == 1u);
}

}  // namespace

BOOST_AUTO_TEST_CASE(a_waiting_binding_receiver_keeps_heartbeating_its_sender) {
  a_waiting_receiver_stays_in_touch(true);
}

BOOST_AUTO_TEST_CASE(a_waiting_connecting_receiver_keeps_heartbeating_its_sender) {
  a_waiting_receiver_stays_in_touch(false);
}

// Ten packets come in while nobody takes (the channel's thread reads them meanwhile): one call
// returns all ten, in order.
BOOST_AUTO_TEST_CASE(packets_that_came_in_meanwhile_are_taken_in_one_call) {
  auto net = insecure_network();
  const auto endpoint = ipc_endpoint();
  edge_channel in(edge_role::receives_data, options_for(endpoint, true), net);
  edge_channel out(edge_role::sends_data, options_for(endpoint, false), net);
  for (std::uint64_t i = 0; i < 10; ++i) push(out, numbered(i));
  // Sent means queued in ZeroMQ: give its threads time to carry them over.
  std::this_thread::sleep_for(200ms);
  const auto got = in.take(1s);
  BOOST_REQUIRE_EQUAL(got.size(), 10u);
  for (std::uint64_t i = 0; i < got.size(); ++i) BOOST_TEST(got[i]->sequence == i);
}

// The sender goes away without a bye while the receiver waits in take(): the wait ends with the
// failure, naming the endpoint, within the silence bound and a second.
BOOST_AUTO_TEST_CASE(a_waiting_receiver_hears_of_a_silent_sender_within_its_bound) {
  auto net = insecure_network();
  const auto endpoint = ipc_endpoint();
  edge_channel in(edge_role::receives_data, options_for(endpoint, true), net);
  {
    edge_channel out(edge_role::sends_data, options_for(endpoint, false), net);
    push(out, numbered(0));
    const auto deadline = clock_type::now() + 2s;
    while (in.take(50ms).empty()) BOOST_REQUIRE(clock_type::now() < deadline);
  }  // destroyed without leave(): the receiver hears nothing more
  const auto began = clock_type::now();
  std::string failure;
  while (failure.empty() && clock_type::now() - began < silence + 3s) {
    try {
      in.take(100ms);
    } catch (const std::exception& e) {
      failure = e.what();
    }
  }
  const auto waited = clock_type::now() - began;
  BOOST_TEST(failure.find(endpoint) != std::string::npos, failure);
  BOOST_TEST(failure.find("silent") != std::string::npos, failure);
  BOOST_TEST(waited < silence + 1s, std::chrono::duration<double>(waited).count() << " s");
}
