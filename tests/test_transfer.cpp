// Moving tensors between memory spaces: every path of `transfer` (host to device, device to host,
// device to device through peer access or through host staging, strided host sources, same
// space, wrong space) against a fake accelerator. The fake keeps its own memory space in host
// memory, checks that each copy's pointers are on the side they should be, counts every call, and
// queues copies until `synchronize`, as an asynchronous device does — so a transfer that forgets
// to wait returns a tensor that is not filled yet.
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <cstring>
#include <functional>
#include <numeric>
#include <stdexcept>

#include "devices/cpu/cpu_device.hpp"
#include "devices/transfer.hpp"

using namespace loom;

namespace {

struct call_counts {
  int from_host = 0, to_host = 0, within = 0, from_peer = 0, peer_refused = 0, staging = 0,
      synchronize = 0;
};

class fake_accelerator final : public device {
 public:
  fake_accelerator(std::string name, std::string space, std::vector<std::string> peers = {})
      : device(std::move(name), "fake", caps_for(std::move(space), std::move(peers))) {}

  call_counts counts;

  std::size_t memory_free() const override { return std::size_t{1} << 30; }

  buffer allocate(std::size_t bytes) override {
    auto memory = buffer::allocate(bytes);
    spans_.push_back({memory.data(), bytes});
    return memory;
  }

  buffer allocate_staging(std::size_t bytes) override {
    ++counts.staging;
    return buffer::allocate(bytes);
  }

  void copy_from_host(const std::byte* host, std::byte* to, std::size_t bytes) override {
    require(!owns(host, bytes) && owns(to, bytes), "copy_from_host");
    ++counts.from_host;
    queue([=] { std::memcpy(to, host, bytes); });
  }

  void copy_to_host(const std::byte* from, std::byte* host, std::size_t bytes) override {
    require(owns(from, bytes) && !owns(host, bytes), "copy_to_host");
    ++counts.to_host;
    queue([=] { std::memcpy(host, from, bytes); });
  }

  void copy_within(const std::byte* from, std::byte* to, std::size_t bytes) override {
    require(owns(from, bytes) && owns(to, bytes), "copy_within");
    ++counts.within;
    queue([=] { std::memcpy(to, from, bytes); });
  }

  bool copy_from_peer(const device& source, const std::byte* from, std::byte* to,
                      std::size_t bytes) override {
    const auto& peers = caps().peers;
    if (std::find(peers.begin(), peers.end(), source.memory_space()) == peers.end()) {
      ++counts.peer_refused;
      return false;
    }
    const auto* peer = dynamic_cast<const fake_accelerator*>(&source);
    require(peer != nullptr && peer->owns(from, bytes) && owns(to, bytes), "copy_from_peer");
    ++counts.from_peer;
    queue([=] { std::memcpy(to, from, bytes); });
    return true;
  }

  void synchronize() override {
    ++counts.synchronize;
    for (auto& work : queued_) work();
    queued_.clear();
  }

  void gemm(const gemm_args&) override { throw std::invalid_argument("the fake does no math"); }

  // Work a stage queued on this device (a kernel writing `value` over `t`), not yet done.
  void queue_fill(const tensor& t, std::byte value) {
    queue([=] { std::memset(t.raw(), static_cast<int>(value), t.nbytes()); });
  }

  // A dense f32 tensor in this device's memory holding 0, 1, 2, ...
  tensor counting_tensor(shape_t shape) {
    auto t = allocate_tensor(dtype::f32, std::move(shape));
    std::vector<float> values(static_cast<std::size_t>(t.numel()));
    std::iota(values.begin(), values.end(), 0.0f);
    copy_from_host(reinterpret_cast<const std::byte*>(values.data()), t.raw(), t.nbytes());
    synchronize();
    counts = {};
    return t;
  }

  bool owns(const std::byte* p, std::size_t bytes) const {
    return std::any_of(spans_.begin(), spans_.end(), [&](const auto& span) {
      return p >= span.first && p + bytes <= span.first + span.second;
    });
  }

 private:
  static device_caps caps_for(std::string space, std::vector<std::string> peers) {
    device_caps caps;
    caps.memory_space = std::move(space);
    caps.async = true;
    caps.peers = std::move(peers);
    return caps;
  }

  void require(bool ok, const char* call) const {
    if (!ok) throw std::logic_error(std::string(call) + " given memory on the wrong side");
  }

  void queue(std::function<void()> work) { queued_.push_back(std::move(work)); }

  std::vector<std::pair<const std::byte*, std::size_t>> spans_;
  std::vector<std::function<void()>> queued_;
};

tensor counting_host_tensor(dtype type, shape_t shape) {
  auto t = tensor::zeros(type, std::move(shape));
  for (std::size_t i = 0; i < t.nbytes(); ++i) t.raw()[i] = static_cast<std::byte>(i * 7 + 1);
  return t;
}

std::vector<std::byte> bytes_of(const tensor& t) { return {t.raw(), t.raw() + t.nbytes()}; }

std::vector<float> floats_of(const tensor& t) {
  std::vector<float> out(static_cast<std::size_t>(t.numel()));
  std::memcpy(out.data(), t.raw(), out.size() * sizeof(float));
  return out;
}

std::string message_of(const std::function<void()>& call) {
  try {
    call();
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "no error";
}

}  // namespace

BOOST_AUTO_TEST_CASE(same_memory_space_hands_back_the_same_memory) {
  auto t = counting_host_tensor(dtype::f32, {3, 4});
  cpu_device other("cpu1", {}, device_caps{});
  auto moved = transfer(t, host_device(), other);
  BOOST_TEST(moved.raw() == t.raw());
  BOOST_TEST(moved.memory().same_memory(t.memory()));

  fake_accelerator a("npu0", "fake:0"), a_again("npu0b", "fake:0");
  auto on_device = a.counting_tensor({5});
  auto same = transfer(on_device, a, a_again);
  BOOST_TEST(same.raw() == on_device.raw());
  BOOST_TEST(a.counts.to_host + a_again.counts.from_host + a_again.counts.from_peer == 0);
}

BOOST_AUTO_TEST_CASE(host_to_device_is_one_copy_complete_on_return) {
  fake_accelerator npu("npu0", "fake:0");
  for (auto type : {dtype::u8, dtype::bf16, dtype::f32}) {
    auto t = counting_host_tensor(type, {3, 5});
    npu.counts = {};
    auto moved = transfer(t, host_device(), npu);
    BOOST_TEST(moved.device() == "fake:0");
    BOOST_TEST((moved.type() == type));
    BOOST_TEST(moved.shape() == t.shape());
    BOOST_TEST(npu.owns(moved.raw(), moved.nbytes()));
    BOOST_TEST(npu.counts.from_host == 1);
    BOOST_TEST(npu.counts.staging == 0, "a dense source needs no staging");
    BOOST_TEST(bytes_of(moved) == bytes_of(t), "the copy landed before transfer returned");
  }
}

// Into the source's staging memory (page-locked on a GPU), which is host memory.
BOOST_AUTO_TEST_CASE(device_to_host_is_one_copy_into_staging_memory_complete_on_return) {
  fake_accelerator npu("npu0", "fake:0");
  auto t = npu.counting_tensor({2, 3, 4});
  auto moved = transfer(t, npu, host_device());
  BOOST_TEST(moved.device() == "cpu");
  BOOST_TEST(!npu.owns(moved.raw(), moved.nbytes()));
  BOOST_TEST(npu.counts.to_host == 1);
  BOOST_TEST(npu.counts.staging == 1);
  std::vector<float> want(24);
  std::iota(want.begin(), want.end(), 0.0f);
  BOOST_TEST(floats_of(moved) == want, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(peer_access_copies_directly_after_the_source_work_is_done) {
  fake_accelerator a("npu0", "fake:0"), b("npu1", "fake:1", {"fake:0"});
  auto t = a.counting_tensor({16});
  // A stage on `a` is still writing its output when the edge moves it.
  a.queue_fill(t, std::byte{0x3f});
  auto moved = transfer(t, a, b);
  BOOST_TEST(moved.device() == "fake:1");
  BOOST_TEST(b.owns(moved.raw(), moved.nbytes()));
  BOOST_TEST(b.counts.from_peer == 1);
  BOOST_TEST(a.counts.to_host + b.counts.from_host + a.counts.staging + b.counts.staging == 0,
             "nothing went through host memory");
  BOOST_TEST(std::all_of(moved.raw(), moved.raw() + moved.nbytes(),
                         [](std::byte x) { return x == std::byte{0x3f}; }),
             "the copy read the source's finished output");
}

BOOST_AUTO_TEST_CASE(without_peer_access_bytes_go_through_host_staging) {
  fake_accelerator a("npu0", "fake:0"), b("npu1", "fake:1");
  auto t = a.counting_tensor({4, 8});
  auto moved = transfer(t, a, b);
  BOOST_TEST(moved.device() == "fake:1");
  BOOST_TEST(b.counts.peer_refused == 1);
  BOOST_TEST(a.counts.staging == 1, "the source's page-locked staging");
  BOOST_TEST(a.counts.to_host == 1);
  BOOST_TEST(b.counts.from_host == 1);
  BOOST_TEST(b.counts.from_peer == 0);
  std::vector<float> want(32);
  std::iota(want.begin(), want.end(), 0.0f);
  BOOST_TEST(floats_of(moved) == want, boost::test_tools::per_element());

  // Peer access to another space does not help with this one.
  fake_accelerator c("npu2", "fake:2", {"fake:9"});
  c.counts = {};
  transfer(t, a, c);
  BOOST_TEST(c.counts.from_peer == 0);
  BOOST_TEST(c.counts.from_host == 1);
}

BOOST_AUTO_TEST_CASE(strided_host_sources_arrive_dense_in_row_major_order) {
  fake_accelerator npu("npu0", "fake:0");
  // A 4×6 matrix holding 0..23.
  auto whole = tensor::zeros(dtype::f32, {4, 6});
  std::iota(whole.data<float>(), whole.data<float>() + 24, 0.0f);

  // Its transpose (6×4, last dimension not dense: one element at a time).
  tensor transposed(dtype::f32, {6, 4}, {1, 6}, whole.memory());
  BOOST_TEST_REQUIRE(!transposed.is_contiguous());
  auto moved = transfer(transposed, host_device(), npu);
  BOOST_TEST(moved.shape() == shape_t({6, 4}));
  BOOST_TEST(moved.is_contiguous());
  std::vector<float> want;
  for (int col = 0; col < 6; ++col)
    for (int row = 0; row < 4; ++row) want.push_back(static_cast<float>(row * 6 + col));
  BOOST_TEST(floats_of(moved) == want, boost::test_tools::per_element());
  BOOST_TEST(npu.counts.staging == 1, "compacted in the destination's staging memory");
  BOOST_TEST(npu.counts.from_host == 1, "then one copy");

  // Columns 2..4 of every row (rows dense, one copy per row).
  auto from_column_2 = whole.memory().share(2 * sizeof(float), 22 * sizeof(float));
  tensor columns(dtype::f32, {4, 3}, {6, 1}, from_column_2);
  auto moved_columns = transfer(columns, host_device(), npu);
  std::vector<float> want_columns;
  for (int row = 0; row < 4; ++row)
    for (int col = 2; col < 5; ++col) want_columns.push_back(static_cast<float>(row * 6 + col));
  BOOST_TEST(floats_of(moved_columns) == want_columns, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(empty_tensors_move_without_copies) {
  fake_accelerator npu("npu0", "fake:0");
  auto empty = tensor::zeros(dtype::f32, {0, 3});
  auto moved = transfer(empty, host_device(), npu);
  BOOST_TEST(moved.device() == "fake:0");
  BOOST_TEST(moved.shape() == shape_t({0, 3}));
  BOOST_TEST(npu.counts.from_host == 0);
}

BOOST_AUTO_TEST_CASE(wrong_space_and_strided_device_tensors_are_refused) {
  fake_accelerator npu("npu0", "fake:0");
  auto host = counting_host_tensor(dtype::f32, {2, 2});
  auto wrong = message_of([&] { transfer(host, npu, host_device()); });
  BOOST_TEST(wrong.find("memory space 'cpu'") != std::string::npos, wrong);
  BOOST_TEST(wrong.find("device 'npu0'") != std::string::npos, wrong);
  BOOST_TEST(wrong.find("'fake:0'") != std::string::npos, wrong);

  auto on_device = npu.counting_tensor({4, 4});
  tensor strided(dtype::f32, {4, 2}, {4, 2}, on_device.memory(), "fake:0");
  auto refused = message_of([&] { transfer(strided, npu, host_device()); });
  BOOST_TEST(refused.find("device 'npu0' holds a strided tensor") != std::string::npos, refused);
  BOOST_TEST(npu.counts.to_host == 0);
}
