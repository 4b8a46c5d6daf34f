// Buffers share memory through views; tensors describe it without copying.
#include <boost/test/unit_test.hpp>

#include <memory>
#include <vector>

#include "devices/tensor.hpp"
#include "stages/packet.hpp"

using namespace loom;

BOOST_AUTO_TEST_CASE(views_share_memory_and_keep_it_alive) {
  bool released = false;
  auto* memory = new std::byte[64];
  buffer view;
  {
    auto whole = buffer::adopt(memory, 64, [&] {
      released = true;
      delete[] memory;
    });
    view = whole.share(16, 8);
    BOOST_TEST(view.data() == memory + 16);
    BOOST_TEST(view.same_memory(whole));
    BOOST_TEST(whole.use_count() == 2);
  }
  BOOST_TEST(!released);
  view = buffer();
  BOOST_TEST(released);
}

BOOST_AUTO_TEST_CASE(a_buffer_adopted_with_its_owner_keeps_the_owner_alive) {
  auto owner = std::make_shared<std::vector<std::byte>>(32);
  std::weak_ptr<std::vector<std::byte>> watch = owner;
  auto whole = buffer::adopt(owner, owner->data(), owner->size());
  owner.reset();
  auto view = whole.share(8, 4);
  BOOST_TEST(view.data() == whole.data() + 8);
  BOOST_TEST(view.same_memory(whole));
  BOOST_TEST(whole.use_count() == 2);
  whole = buffer();
  BOOST_TEST(!watch.expired());
  view = buffer();
  BOOST_TEST(watch.expired());
}

BOOST_AUTO_TEST_CASE(views_past_the_end_are_refused) {
  auto b = buffer::allocate(10);
  BOOST_CHECK_THROW(b.share(8, 3), std::out_of_range);
  BOOST_CHECK_NO_THROW(b.share(10, 0));
}

BOOST_AUTO_TEST_CASE(dtypes_have_sizes_and_names) {
  BOOST_TEST(size_of(dtype::bf16) == 2u);
  BOOST_TEST(size_of(dtype::i64) == 8u);
  BOOST_TEST(name_of(dtype::f16) == "f16");
  BOOST_TEST((parse_dtype("bf16") == dtype::bf16));
  BOOST_TEST(!parse_dtype("f64"));
}

BOOST_AUTO_TEST_CASE(slices_and_reshapes_are_views) {
  auto t = tensor::zeros(dtype::f32, {4, 3});
  BOOST_TEST(t.nbytes() == 48u);
  BOOST_TEST(t.is_contiguous());
  BOOST_TEST((t.strides() == shape_t{3, 1}));
  auto rows = t.slice(1, 3);
  BOOST_TEST((rows.shape() == shape_t{2, 3}));
  BOOST_TEST(rows.raw() == t.raw() + 12);
  BOOST_TEST(rows.memory().same_memory(t.memory()));
  auto flat = t.reshape({12});
  BOOST_TEST(flat.raw() == t.raw());
  BOOST_CHECK_THROW(t.reshape({5}), std::invalid_argument);
  BOOST_CHECK_THROW(t.slice(2, 5), std::out_of_range);
}

BOOST_AUTO_TEST_CASE(strided_views_are_checked_against_their_buffer) {
  auto memory = buffer::allocate(6 * 4);
  tensor column(dtype::f32, {3}, {2}, memory);  // every other element of 6
  BOOST_TEST(!column.is_contiguous());
  BOOST_TEST(column.nbytes() == 20u);
  BOOST_CHECK_THROW(tensor(dtype::f32, {4}, {2}, memory), std::invalid_argument);
  BOOST_CHECK_THROW(tensor(dtype::f32, {7}, memory), std::invalid_argument);
}

BOOST_AUTO_TEST_CASE(packets_hold_named_tensors_and_derive_identity) {
  packet p;
  p.stream_id = 3;
  p.sequence = 42;
  p.timestamp_us = 1000;
  p.created_ns = 5;
  p.set("image", tensor::zeros(dtype::u8, {2, 2, 3}));
  p.metadata.emplace_back("caption", "a cat");
  BOOST_TEST(p.payload_bytes() == 12u);
  BOOST_TEST(p.at("image").rank() == 3u);
  BOOST_CHECK_THROW(p.at("text"), std::out_of_range);
  auto d = p.derive();
  BOOST_TEST(d.sequence == 42u);
  BOOST_TEST(d.stream_id == 3u);
  BOOST_TEST(d.created_ns == 5);
  BOOST_TEST(d.tensors.empty());
  BOOST_TEST(*d.meta("caption") == "a cat");
}

BOOST_AUTO_TEST_CASE(shapes_hold_up_to_eight_dimensions_inline) {
  shape_t s{1, 2, 3};
  BOOST_TEST(s.size() == 3u);
  BOOST_TEST(s.back() == 3);
  BOOST_TEST((s == shape_t(std::vector<std::int64_t>{1, 2, 3})));
  BOOST_TEST(!(s == shape_t{1, 2}));
  BOOST_CHECK_THROW((shape_t{1, 1, 1, 1, 1, 1, 1, 1, 1}), std::length_error);
  BOOST_TEST(to_string(s) == "[1, 2, 3]");
}
