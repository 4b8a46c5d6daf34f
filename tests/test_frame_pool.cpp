// frame_pool: blocks come back when the last view of a frame goes, are handed out again, and
// outlive the pool's owner.
#include <boost/test/unit_test.hpp>

#include "stages/media/frame_pool.hpp"

using loom::media::frame_pool;

BOOST_AUTO_TEST_CASE(a_released_block_is_handed_out_again) {
  auto pool = frame_pool::create();
  auto first = pool->take(1 << 20);
  auto* address = first.data();
  auto view = first.share(0, 16);
  first = {};
  auto second = pool->take(1 << 20);
  auto* second_address = second.data();
  BOOST_TEST(second_address != address);  // `view` still holds the first block
  view = {};
  second = {};
  auto third = pool->take(1 << 20);
  BOOST_TEST((third.data() == address || third.data() == second_address));
  BOOST_TEST(reinterpret_cast<std::uintptr_t>(third.data()) % 64 == 0u);
}

BOOST_AUTO_TEST_CASE(blocks_in_flight_outlive_the_pool_owner) {
  auto pool = frame_pool::create();
  auto block = pool->take(4096);
  pool.reset();
  block.data()[4095] = std::byte{1};
  BOOST_TEST(block.size() == 4096u);
}

BOOST_AUTO_TEST_CASE(idle_blocks_are_capped_by_bytes) {
  auto pool = frame_pool::create(2 * 4096);
  std::vector<loom::buffer> held;
  for (int i = 0; i < 4; ++i) held.push_back(pool->take(4096));
  std::vector<std::byte*> addresses;
  for (auto& b : held) addresses.push_back(b.data());
  held.clear();  // two are kept, two released
  std::vector<loom::buffer> again;
  for (int i = 0; i < 4; ++i) again.push_back(pool->take(4096));
  int reused = 0;
  for (auto& b : again)
    for (auto* a : addresses) reused += b.data() == a;
  BOOST_TEST(reused >= 2);
}
