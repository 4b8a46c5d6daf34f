// Receiving ends: credit returned in batches, order restored across replica lanes, and input
// sets aligned by sequence number.
#include <boost/test/unit_test.hpp>

#include "actors/input_aligner.hpp"
#include "actors/input_port.hpp"

using namespace loom;

namespace {

link_message message(std::uint64_t ticket, std::uint64_t sequence, bool last = true) {
  auto p = std::make_shared<packet>();
  p->sequence = sequence;
  return {ticket, last, p};
}

std::vector<std::uint64_t> drain(input_port& port) {
  std::vector<std::uint64_t> out;
  while (auto* m = port.peek()) {
    out.push_back(m->packet->sequence);
    port.pop();
  }
  return out;
}

}  // namespace

BOOST_AUTO_TEST_CASE(credit_goes_back_in_quarters_of_the_capacity) {
  std::vector<std::pair<std::size_t, std::size_t>> credits;
  input_port port(1, 8, [&](std::size_t lane, std::size_t n) { credits.emplace_back(lane, n); });
  for (std::uint64_t i = 0; i < 5; ++i) port.push(0, message(i, i));
  BOOST_TEST(drain(port).size() == 5u);
  BOOST_TEST(credits.size() == 2u);  // after 2 and after 4
  BOOST_TEST(credits.back().second == 2u);
  port.push(0, message(5, 5));
  drain(port);
  BOOST_TEST(credits.size() == 3u);
}

BOOST_AUTO_TEST_CASE(lanes_are_merged_back_into_ticket_order) {
  input_port port(2, 16, [](std::size_t, std::size_t) {});
  // Replica 1 is ahead of replica 0.
  port.push(1, message(1, 1));
  port.push(1, message(3, 3));
  BOOST_TEST(port.peek() == nullptr);
  port.push(0, message(0, 0));
  port.push(0, message(2, 2));
  BOOST_TEST(drain(port) == (std::vector<std::uint64_t>{0, 1, 2, 3}));
}

BOOST_AUTO_TEST_CASE(a_ticket_with_several_outputs_stays_together_and_empty_tickets_are_skipped) {
  input_port port(2, 16, [](std::size_t, std::size_t) {});
  port.push(0, message(0, 10, false));
  port.push(0, message(0, 11, true));
  // Ticket 1 (lane 1) produced nothing: lane 1 shows ticket 3 next.
  port.push(1, message(3, 30));
  port.push(0, message(2, 20));
  port.end(0);
  port.end(1);
  BOOST_TEST(drain(port) == (std::vector<std::uint64_t>{10, 11, 20, 30}));
  BOOST_TEST(port.exhausted());
}

BOOST_AUTO_TEST_CASE(an_ended_lane_does_not_hold_back_the_others) {
  input_port port(3, 16, [](std::size_t, std::size_t) {});
  port.end(1);
  port.push(0, message(0, 0));
  port.push(2, message(2, 2));
  port.push(0, message(3, 3));
  BOOST_TEST(drain(port) == (std::vector<std::uint64_t>{0, 2, 3}));
  BOOST_TEST(!port.exhausted());
}

BOOST_AUTO_TEST_CASE(inputs_are_aligned_by_sequence_and_unmatched_ones_counted) {
  std::vector<input_port> ports;
  ports.emplace_back(1, 16, [](std::size_t, std::size_t) {});
  ports.emplace_back(1, 16, [](std::size_t, std::size_t) {});
  for (std::uint64_t s : {0, 1, 2, 3}) ports[0].push(0, message(s, s));
  for (std::uint64_t s : {0, 2, 3}) ports[1].push(0, message(s, s));  // 1 was dropped upstream
  input_set set;
  std::uint64_t unmatched = 0;
  std::vector<std::uint64_t> matched;
  while (take_aligned(ports, set, unmatched)) {
    BOOST_TEST(set.packets[0]->sequence == set.packets[1]->sequence);
    matched.push_back(set.packets[0]->sequence);
  }
  BOOST_TEST(matched == (std::vector<std::uint64_t>{0, 2, 3}));
  BOOST_TEST(unmatched == 1u);
}

BOOST_AUTO_TEST_CASE(leftovers_are_discarded_once_a_partner_port_has_ended) {
  std::vector<input_port> ports;
  ports.emplace_back(1, 16, [](std::size_t, std::size_t) {});
  ports.emplace_back(1, 16, [](std::size_t, std::size_t) {});
  ports[0].push(0, message(0, 0));
  ports[0].push(0, message(1, 1));
  ports[1].push(0, message(0, 0));
  ports[1].end(0);
  input_set set;
  std::uint64_t unmatched = 0;
  BOOST_TEST(take_aligned(ports, set, unmatched));
  BOOST_TEST(!take_aligned(ports, set, unmatched));
  BOOST_TEST(unmatched == 1u);
  BOOST_TEST(!all_exhausted(ports));
  ports[0].end(0);
  BOOST_TEST(all_exhausted(ports));
}
