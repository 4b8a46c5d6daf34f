// Recycled packet memory: blocks come back for reuse, whichever thread frees them, and packets
// made in it behave like any other.
#include <boost/test/unit_test.hpp>

#include <set>
#include <thread>
#include <vector>

#include "stages/packet.hpp"

using namespace loom;

BOOST_AUTO_TEST_CASE(a_freed_block_is_handed_out_again) {
  void* first = packet_memory::allocate(100);
  packet_memory::deallocate(first, 100);
  void* second = packet_memory::allocate(100);
  BOOST_TEST(second == first);
  packet_memory::deallocate(second, 100);
}

BOOST_AUTO_TEST_CASE(blocks_freed_on_another_thread_come_back_through_the_depot) {
  constexpr int count = 4096;  // many stacks' worth, so full stacks reach the depot
  std::vector<void*> blocks;
  for (int i = 0; i < count; ++i) blocks.push_back(packet_memory::allocate(200));
  std::set<void*> made(blocks.begin(), blocks.end());
  BOOST_TEST(made.size() == blocks.size());
  std::thread([&] {
    for (void* b : blocks) packet_memory::deallocate(b, 200);
  }).join();
  int reused = 0;
  std::vector<void*> again;
  for (int i = 0; i < count; ++i) {
    again.push_back(packet_memory::allocate(200));
    reused += made.count(again.back()) ? 1 : 0;
  }
  BOOST_TEST(reused > count / 2);
  for (void* b : again) packet_memory::deallocate(b, 200);
}

BOOST_AUTO_TEST_CASE(large_requests_bypass_the_pool) {
  void* big = packet_memory::allocate(1 << 20);
  static_cast<char*>(big)[(1 << 20) - 1] = 1;
  packet_memory::deallocate(big, 1 << 20);
}

BOOST_AUTO_TEST_CASE(packets_made_on_one_thread_are_released_on_another) {
  std::vector<packet_ptr> packets;
  auto memory = buffer::allocate(16);
  for (std::uint64_t i = 0; i < 1000; ++i) {
    packet p;
    p.sequence = i;
    p.set("data", tensor(dtype::u8, {16}, memory));
    packets.push_back(make_shared_packet(std::move(p)));
  }
  BOOST_TEST(packets[999]->sequence == 999u);
  BOOST_TEST(packets[999]->at("data").nbytes() == 16u);
  BOOST_TEST(memory.use_count() == 1001);
  std::thread([&] { packets.clear(); }).join();
  BOOST_TEST(memory.use_count() == 1);
}
