// recycled_outputs (stages/model/moe/recycled_outputs.hpp): a block comes back only once no
// tensor views it, a request larger than every free block gets fresh memory in its place, and
// blocks in flight past the ones kept are fresh memory each.
#include <boost/test/unit_test.hpp>

#include <vector>

#include "stages/model/moe/recycled_outputs.hpp"

using namespace loom;

BOOST_AUTO_TEST_CASE(a_block_is_reused_only_after_its_last_view_is_gone) {
  recycled_outputs outputs;
  auto& dev = host_device();
  tensor first = outputs.take(dev, 64, 32);
  BOOST_TEST(first.shape() == (shape_t{64, 32}));
  BOOST_TEST(first.is_contiguous());
  first.data<float>()[64 * 32 - 1] = 1.0f;  // the whole extent is writable
  const std::byte* first_memory = first.raw();

  tensor held = outputs.take(dev, 64, 32);
  BOOST_TEST(held.raw() != first_memory);  // `first` still holds its block

  tensor view = first.slice(0, 8);
  first = tensor();
  BOOST_TEST(outputs.take(dev, 64, 32).raw() != first_memory);  // `view` still holds it
  view = tensor();
  // Free again, and the first block kept: a request that fits gets it back.
  tensor again = outputs.take(dev, 48, 32);
  BOOST_TEST(again.raw() == first_memory);
  BOOST_TEST(again.shape() == (shape_t{48, 32}));
}

BOOST_AUTO_TEST_CASE(a_larger_request_replaces_a_free_block_that_is_too_small) {
  recycled_outputs outputs;
  auto& dev = host_device();
  const std::byte* small = outputs.take(dev, 16, 16).raw();
  tensor large = outputs.take(dev, 1024, 16);
  BOOST_TEST(large.raw() != small);
  BOOST_TEST(large.shape() == (shape_t{1024, 16}));
  large.data<float>()[1024 * 16 - 1] = 2.0f;
  const std::byte* large_memory = large.raw();
  large = tensor();
  // The larger block now serves smaller requests too.
  BOOST_TEST(outputs.take(dev, 16, 16).raw() == large_memory);
}

BOOST_AUTO_TEST_CASE(past_the_kept_blocks_every_request_gets_fresh_memory) {
  recycled_outputs outputs;
  auto& dev = host_device();
  std::vector<tensor> in_flight;
  for (int i = 0; i < 20; ++i) in_flight.push_back(outputs.take(dev, 8, 8));
  for (std::size_t i = 0; i < in_flight.size(); ++i)
    for (std::size_t j = i + 1; j < in_flight.size(); ++j)
      BOOST_TEST(in_flight[i].raw() != in_flight[j].raw());
  std::vector<const std::byte*> addresses;
  for (const auto& t : in_flight) addresses.push_back(t.raw());
  in_flight.clear();
  // The blocks kept (the first ones taken) come back in order; the rest went back to the system.
  std::vector<tensor> again;
  for (int i = 0; i < 4; ++i) again.push_back(outputs.take(dev, 8, 8));
  for (std::size_t i = 0; i < again.size(); ++i) BOOST_TEST(again[i].raw() == addresses[i]);
}
