// Credit and full-channel policies of the sending end of a link.
#include <boost/test/unit_test.hpp>

#include "actors/link_sender.hpp"

using namespace loom;

namespace {

struct wire {
  std::vector<std::uint64_t> sent;  // sequence numbers, in order
  int eos = 0;
  int batches = 0;

  link_sender sender(std::size_t capacity, full_policy policy) {
    return link_sender(
        capacity, policy,
        [this](link_sender::batch&& b) {
          for (const auto& m : b) sent.push_back(m.packet->sequence);
          ++batches;
        },
        [this] { ++eos; });
  }
};

link_message numbered(std::uint64_t sequence) {
  auto p = std::make_shared<packet>();
  p->sequence = sequence;
  return {sequence, true, p};
}

}  // namespace

BOOST_AUTO_TEST_CASE(sends_only_with_credit_and_blocks_when_full) {
  wire w;
  auto s = w.sender(2, full_policy::block);
  for (std::uint64_t i = 0; i < 3; ++i) s.offer(numbered(i));
  BOOST_TEST(w.sent.empty());  // batched until flushed
  s.flush();
  BOOST_TEST(w.sent == (std::vector<std::uint64_t>{0, 1}));
  BOOST_TEST(w.batches == 1);
  BOOST_TEST(s.stalled());
  BOOST_TEST(s.waiting() == 1u);
  s.grant(1);
  BOOST_TEST(w.sent.size() == 2u);  // joins the batch; the round's flush sends it
  s.flush();
  BOOST_TEST(w.sent == (std::vector<std::uint64_t>{0, 1, 2}));
  BOOST_TEST(!s.stalled());
  BOOST_TEST(s.dropped() == 0u);
}

BOOST_AUTO_TEST_CASE(drop_newest_discards_what_does_not_fit_and_counts_it) {
  wire w;
  auto s = w.sender(2, full_policy::drop_newest);
  for (std::uint64_t i = 0; i < 5; ++i) s.offer(numbered(i));
  s.flush();
  BOOST_TEST(w.sent == (std::vector<std::uint64_t>{0, 1}));
  BOOST_TEST(s.dropped() == 3u);
  BOOST_TEST(!s.stalled());
  s.grant(2);
  s.offer(numbered(5));
  s.flush();
  BOOST_TEST(w.sent == (std::vector<std::uint64_t>{0, 1, 5}));
  BOOST_TEST(s.sent() + s.dropped() == 6u);
}

BOOST_AUTO_TEST_CASE(drop_oldest_keeps_the_newest_waiting) {
  wire w;
  auto s = w.sender(2, full_policy::drop_oldest);
  for (std::uint64_t i = 0; i < 7; ++i) s.offer(numbered(i));
  // 0 and 1 went out on credit; of 2..6 only the newest two wait.
  BOOST_TEST(s.dropped() == 3u);
  BOOST_TEST(!s.stalled());
  s.grant(5);
  s.flush();
  BOOST_TEST(w.sent == (std::vector<std::uint64_t>{0, 1, 5, 6}));
  BOOST_TEST(s.sent() + s.dropped() == 7u);
}

BOOST_AUTO_TEST_CASE(end_of_stream_follows_everything_waiting) {
  wire w;
  auto s = w.sender(1, full_policy::block);
  s.offer(numbered(0));
  s.offer(numbered(1));
  s.close();
  BOOST_TEST(w.sent == (std::vector<std::uint64_t>{0}));
  BOOST_TEST(w.eos == 0);
  BOOST_TEST(!s.flushed());
  s.grant(1);
  s.flush();
  BOOST_TEST(w.sent == (std::vector<std::uint64_t>{0, 1}));
  BOOST_TEST(w.eos == 1);
  BOOST_TEST(s.flushed());
  s.grant(1);
  s.flush();
  BOOST_TEST(w.eos == 1);
}
