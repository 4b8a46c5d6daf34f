// The timestamp aligner on its own: nearest and window matching within the tolerance, the
// unmatched policies and their counts, bounded memory, and end of stream.
#include <boost/test/unit_test.hpp>

#include <stdexcept>

#include "stages/media/timestamp_aligner.hpp"

using namespace loom;

namespace {

packet_ptr at(std::int64_t timestamp_us, std::uint64_t sequence = 0) {
  packet p;
  p.sequence = sequence;
  p.timestamp_us = timestamp_us;
  return std::make_shared<const packet>(std::move(p));
}

aligner_options options(std::int64_t tolerance, align_mode mode = align_mode::nearest,
                        unmatched_policy unmatched = unmatched_policy::drop) {
  aligner_options o;
  o.tolerance_us = tolerance;
  o.mode = mode;
  o.unmatched = unmatched;
  return o;
}

std::vector<aligned_group> drain(timestamp_aligner& a) {
  std::vector<aligned_group> out;
  while (auto g = a.pop()) out.push_back(std::move(*g));
  return out;
}

// Frames every 40 ms from 0 on stream 1, for `count` frames.
void frames(timestamp_aligner& a, int count, std::int64_t period = 40'000) {
  for (int i = 0; i < count; ++i) a.push(1, at(i * period, static_cast<std::uint64_t>(i)));
}

}  // namespace

BOOST_AUTO_TEST_CASE(pairs_each_primary_with_the_nearest_packet_in_tolerance) {
  timestamp_aligner a(options(10'000));
  frames(a, 10);
  a.push(0, at(41'000, 100));   // nearest: frame 1 (40 ms)
  a.push(0, at(158'000, 101));  // nearest: frame 4 (160 ms)
  auto groups = drain(a);
  BOOST_TEST_REQUIRE(groups.size() == 2u);
  BOOST_TEST(groups[0].primary->sequence == 100u);
  BOOST_TEST_REQUIRE(groups[0].others[0].size() == 1u);
  BOOST_TEST(groups[0].others[0][0]->sequence == 1u);
  BOOST_TEST(groups[1].others[0][0]->sequence == 4u);
  BOOST_TEST(a.counts().groups == 2u);
  BOOST_TEST(!groups[0].late);
}

BOOST_AUTO_TEST_CASE(waits_until_the_other_stream_has_passed_the_window) {
  timestamp_aligner a(options(10'000));
  a.push(0, at(100'000));
  a.push(1, at(95'000));
  BOOST_TEST(!a.pop());  // a nearer one may still come, up to 110 ms
  a.push(1, at(102'000));
  BOOST_TEST(!a.pop());
  a.push(1, at(110'000));
  BOOST_TEST(!a.pop());  // 110 ms is still inside the window
  a.push(1, at(111'000));
  auto g = a.pop();
  BOOST_TEST_REQUIRE(g.has_value());
  BOOST_TEST(g->others[0][0]->timestamp_us == 102'000);
}

BOOST_AUTO_TEST_CASE(the_end_of_a_stream_decides_what_waits) {
  timestamp_aligner a(options(10'000));
  a.push(0, at(100'000));
  a.push(1, at(104'000));
  BOOST_TEST(!a.pop());
  a.end(1);
  auto g = a.pop();
  BOOST_TEST_REQUIRE(g.has_value());
  BOOST_TEST(g->others[0][0]->timestamp_us == 104'000);
}

BOOST_AUTO_TEST_CASE(ties_go_to_the_earlier_packet) {
  timestamp_aligner a(options(10'000));
  a.push(1, at(95'000, 1));
  a.push(1, at(105'000, 2));
  a.push(0, at(100'000));
  a.end_all();
  auto groups = drain(a);
  BOOST_TEST_REQUIRE(groups.size() == 1u);
  BOOST_TEST(groups[0].others[0][0]->sequence == 1u);
}

BOOST_AUTO_TEST_CASE(window_mode_takes_every_packet_within_the_tolerance) {
  timestamp_aligner a(options(50'000, align_mode::window));
  frames(a, 10);                // 0, 40, ..., 360 ms
  a.push(0, at(200'000));       // window [150, 250]: frames at 160, 200, 240
  a.push(0, at(220'000));       // window [170, 270]: 200, 240 — frames can join several groups
  a.end_all();
  auto groups = drain(a);
  BOOST_TEST_REQUIRE(groups.size() == 2u);
  std::vector<std::int64_t> first, second;
  for (const auto& p : groups[0].others[0]) first.push_back(p->timestamp_us);
  for (const auto& p : groups[1].others[0]) second.push_back(p->timestamp_us);
  BOOST_TEST(first == (std::vector<std::int64_t>{160'000, 200'000, 240'000}), boost::test_tools::per_element());
  BOOST_TEST(second == (std::vector<std::int64_t>{200'000, 240'000}), boost::test_tools::per_element());
  BOOST_TEST(a.counts().unused == 7u);  // the frames in no window
}

BOOST_AUTO_TEST_CASE(drop_discards_primaries_without_a_partner_and_counts_them) {
  timestamp_aligner a(options(5'000));
  frames(a, 5);            // 0, 40, 80, 120, 160 ms
  a.push(0, at(20'000));   // nothing within 5 ms
  a.push(0, at(80'000));   // frame 2
  a.push(0, at(100'000));  // nothing
  a.end_all();
  auto groups = drain(a);
  BOOST_TEST_REQUIRE(groups.size() == 1u);
  BOOST_TEST(groups[0].primary->timestamp_us == 80'000);
  BOOST_TEST(a.counts().dropped == 2u);
  BOOST_TEST(a.counts().groups == 1u);
  BOOST_TEST(a.counts().unused == 4u);
}

BOOST_AUTO_TEST_CASE(pass_sends_primaries_alone) {
  timestamp_aligner a(options(5'000, align_mode::nearest, unmatched_policy::pass));
  frames(a, 5);
  a.push(0, at(20'000, 1));
  a.push(0, at(80'000, 2));
  a.end_all();
  auto groups = drain(a);
  BOOST_TEST_REQUIRE(groups.size() == 2u);
  BOOST_TEST(groups[0].others[0].empty());
  BOOST_TEST(groups[1].others[0].size() == 1u);
  BOOST_TEST(a.counts().passed == 1u);
  BOOST_TEST(a.counts().groups == 1u);
}

BOOST_AUTO_TEST_CASE(wait_takes_the_first_packet_after_the_window) {
  timestamp_aligner a(options(5'000, align_mode::nearest, unmatched_policy::wait));
  a.push(0, at(20'000));
  a.push(0, at(500'000));
  a.push(1, at(0));
  a.push(1, at(60'000, 7));
  auto g = a.pop();
  BOOST_TEST_REQUIRE(g.has_value());
  BOOST_TEST(g->late);
  BOOST_TEST(g->others[0][0]->sequence == 7u);
  BOOST_TEST(!a.pop());  // 500 ms still waits for stream 1
  a.end(1);
  BOOST_TEST(!a.pop());  // stream 1 ended with nothing after 505 ms: dropped
  BOOST_TEST(a.counts().late == 1u);
  BOOST_TEST(a.counts().dropped == 1u);
}

BOOST_AUTO_TEST_CASE(primaries_come_out_in_order_whatever_the_arrival_order) {
  timestamp_aligner a(options(10'000));
  for (int i = 0; i < 20; ++i) a.push(0, at(i * 40'000, static_cast<std::uint64_t>(i)));
  BOOST_TEST(!a.pop());
  frames(a, 20, 40'000);
  a.end_all();
  auto groups = drain(a);
  BOOST_TEST_REQUIRE(groups.size() == 20u);
  for (std::size_t i = 0; i < groups.size(); ++i) {
    BOOST_TEST(groups[i].primary->sequence == i);
    BOOST_TEST(groups[i].others[0][0]->sequence == i);
  }
}

BOOST_AUTO_TEST_CASE(three_streams_need_a_match_in_each) {
  aligner_options o = options(10'000);
  o.streams = 3;
  timestamp_aligner a(o);
  a.push(0, at(100'000));
  a.push(0, at(200'000));
  a.push(1, at(101'000));
  a.push(1, at(199'000));
  a.push(2, at(98'000));
  a.end_all();
  auto groups = drain(a);
  BOOST_TEST_REQUIRE(groups.size() == 1u);
  BOOST_TEST(groups[0].others[1][0]->timestamp_us == 98'000);
  BOOST_TEST(a.counts().dropped == 1u);
}

BOOST_AUTO_TEST_CASE(memory_stays_bounded_when_a_stream_runs_ahead) {
  aligner_options o = options(1'000);
  o.max_pending = 8;
  timestamp_aligner a(o);
  // Stream 1 runs ahead while stream 0 says nothing: only the newest 8 are kept.
  for (int i = 0; i < 100; ++i) a.push(1, at(i * 1'000));
  BOOST_TEST(a.pending(1) <= 8u);
  BOOST_TEST(a.counts().overflowed == 92u);
  // Stream 0 runs ahead while stream 1 has stalled: its oldest are decided without waiting.
  timestamp_aligner b(o);
  for (int i = 0; i < 100; ++i) {
    b.push(0, at(i * 1'000));
    drain(b);
  }
  BOOST_TEST(b.pending(0) <= 8u);
  BOOST_TEST(b.counts().dropped == 92u);
}

BOOST_AUTO_TEST_CASE(decreasing_timestamps_and_bad_streams_are_refused) {
  timestamp_aligner a(options(1'000));
  a.push(1, at(5'000));
  BOOST_CHECK_THROW(a.push(1, at(4'000)), std::invalid_argument);
  BOOST_CHECK_THROW(a.push(2, at(0)), std::invalid_argument);
  a.end(1);
  BOOST_CHECK_THROW(a.push(1, at(6'000)), std::invalid_argument);
  BOOST_CHECK_THROW(timestamp_aligner(options(-1)), std::invalid_argument);
  aligner_options one;
  one.streams = 1;
  BOOST_CHECK_THROW(timestamp_aligner{one}, std::invalid_argument);
}

BOOST_AUTO_TEST_CASE(when_the_primary_ends_the_rest_is_unused) {
  timestamp_aligner a(options(1'000));
  a.push(0, at(0));
  frames(a, 5);
  a.end_all();
  auto groups = drain(a);
  BOOST_TEST(groups.size() == 1u);
  BOOST_TEST(a.counts().unused == 4u);
  BOOST_TEST(a.pending(1) == 0u);
}
