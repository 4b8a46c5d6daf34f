// The wire codec: packets and control frames survive a round trip bit for bit, payloads are
// neither copied on the way out nor on the way in (except the counted cases), and hostile headers
// — malformed, truncated, over any limit, or fuzzed — are refused with a wire_error, never a crash.
#include <boost/test/unit_test.hpp>

#include <chrono>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "connectors/wire_codec.hpp"
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

// A copy of `source` starting `misalign` bytes past an aligned address, as a received frame
// may be.
buffer copy_at(const buffer& source, std::size_t misalign = 0) {
  auto block = buffer::allocate(source.size() + misalign + 1);
  if (source.size() > 0) std::memcpy(block.data() + misalign, source.data(), source.size());
  return block.share(misalign, source.size());
}

// Frames as a receiver would hold them: fresh memory, not the sender's.
std::vector<buffer> copied(const std::vector<buffer>& frames) {
  std::vector<buffer> out;
  for (const auto& f : frames) out.push_back(copy_at(f));
  return out;
}

packet sample_packet() {
  packet p;
  p.stream_id = 7;
  p.sequence = 123456789012ull;
  p.timestamp_us = -42;
  p.created_ns = 987654321;
  p.metadata = {{"source_file", "clip.mp4"}, {"empty", ""}, {"utf8", "grüße"}};
  const dtype types[] = {dtype::u8, dtype::i32, dtype::i64, dtype::f16, dtype::bf16, dtype::f32};
  const shape_t shapes[] = {{}, {5}, {3, 4}, {2, 3, 5}, {2, 1, 3, 2}};
  unsigned seed = 0;
  for (auto type : types)
    for (const auto& shape : shapes) {
      p.set(std::string(loom::name_of(type)) + "_rank" + std::to_string(shape.size()),
            patterned(type, shape, ++seed));
    }
  p.set("empty_vector", patterned(dtype::f32, {0}, 99));
  p.set("empty_matrix", patterned(dtype::i64, {4, 0, 3}, 98));
  return p;
}

void check_same_packet(const packet& expected, const packet& actual) {
  BOOST_TEST(actual.stream_id == expected.stream_id);
  BOOST_TEST(actual.sequence == expected.sequence);
  BOOST_TEST(actual.timestamp_us == expected.timestamp_us);
  BOOST_TEST(actual.created_ns == expected.created_ns);
  BOOST_TEST(actual.metadata == expected.metadata);
  BOOST_TEST_REQUIRE(actual.tensors.size() == expected.tensors.size());
  for (std::size_t i = 0; i < expected.tensors.size(); ++i) {
    const auto& e = expected.tensors[i];
    const auto& a = actual.tensors[i];
    BOOST_TEST_CONTEXT("tensor " << e.name) {
      BOOST_TEST(a.name == e.name);
      BOOST_TEST(static_cast<int>(a.value.type()) == static_cast<int>(e.value.type()));
      BOOST_TEST((a.value.shape() == e.value.shape()));
      BOOST_TEST(a.value.device() == "cpu");
      BOOST_TEST(a.value.is_contiguous());
      BOOST_TEST((bytes_of(a.value) == bytes_of(e.value)));
    }
  }
}

// A decode that must fail with a wire_error whose message contains `expected`.
void expect_refused(const buffer& header, const std::vector<buffer>& payloads,
                    const std::string& expected, const lw::wire_limits& limits = {}) {
  try {
    lw::decode(header, payloads, "tcp://hostile:1", limits);
    BOOST_FAIL("decode accepted a frame it should refuse (expected: " + expected + ")");
  } catch (const lw::wire_error& e) {
    const std::string message = e.what();
    BOOST_TEST_INFO("message: " << message);
    BOOST_TEST(message.find(expected) != std::string::npos);
    BOOST_TEST(message.find("tcp://hostile:1") != std::string::npos);
  }
}

buffer words_buffer(const std::vector<std::uint64_t>& words) {
  auto out = buffer::allocate(words.size() * 8);
  std::memcpy(out.data(), words.data(), words.size() * 8);
  return out;
}

buffer copy_buffer(const buffer& source) { return copy_at(source); }

// Index of the first aligned word of `header` equal to `value`.
std::size_t find_word(const buffer& header, std::uint64_t value) {
  for (std::size_t i = 0; i + 8 <= header.size(); i += 8) {
    std::uint64_t word;
    std::memcpy(&word, header.data() + i, 8);
    if (word == value) return i / 8;
  }
  BOOST_FAIL("word not found in header");
  return 0;
}

void set_word(buffer& header, std::size_t index, std::uint64_t value) {
  std::memcpy(header.data() + index * 8, &value, 8);
}

// One i64 tensor of 1021 elements: its byteSize, 8168, appears once in the header. In the
// TensorHeader struct (see wire.capnp and the Cap'n Proto layout rules) the data section is two
// words: dtype in the low 16 bits of the first, byteSize the second.
struct patchable {
  lw::encoded_message message;
  std::size_t byte_size_word;
};

patchable one_i64_tensor() {
  packet p;
  p.set("tokens", patterned(dtype::i64, {1021}, 5));
  auto message = lw::encode_packet(p, 3);
  message.header = copy_buffer(message.header);
  auto index = find_word(message.header, 8168);
  return {std::move(message), index};
}

}  // namespace

BOOST_AUTO_TEST_CASE(packet_round_trip_every_dtype_rank_and_empty_tensors) {
  const auto p = sample_packet();
  auto message = lw::encode_packet(p, 41);
  BOOST_TEST(message.bytes_copied == 0u);
  BOOST_TEST_REQUIRE(message.payloads.size() == p.tensors.size());
  for (std::size_t i = 0; i < p.tensors.size(); ++i) {
    // Zero copy on the way out: each payload frame is the tensor's own memory.
    BOOST_TEST(message.payloads[i].data() == p.tensors[i].value.raw());
    BOOST_TEST(message.payloads[i].size() == p.tensors[i].value.nbytes());
  }
  auto frames = copied(message.payloads);
  auto decoded = lw::decode(copy_buffer(message.header), frames, "inproc://test");
  auto* got = std::get_if<lw::packet_frame>(&decoded);
  BOOST_TEST_REQUIRE(got != nullptr);
  BOOST_TEST(got->edge_id == 41u);
  BOOST_TEST(got->bytes_copied == 0u);
  check_same_packet(p, got->value);
  for (std::size_t i = 0; i < frames.size(); ++i) {
    // Zero copy on the way in: the tensor is the received frame's memory, shared with it.
    BOOST_TEST(got->value.tensors[i].value.raw() == frames[i].data());
    BOOST_TEST(got->value.tensors[i].value.memory().same_memory(frames[i]));
  }
}

// The encoder builds headers in a 2 KiB first segment; a header beyond it spans several Cap'n
// Proto segments, which the receiver must read back alike.
BOOST_AUTO_TEST_CASE(headers_beyond_one_segment_round_trip) {
  auto p = sample_packet();
  p.metadata.emplace_back("caption", std::string(3000, 'c'));
  auto message = lw::encode_packet(p, 5);
  std::uint32_t segments_minus_one = 0;
  std::memcpy(&segments_minus_one, message.header.data(), sizeof segments_minus_one);
  BOOST_TEST(segments_minus_one >= 1u);
  auto decoded = lw::decode(copy_buffer(message.header), copied(message.payloads), "inproc://test");
  auto* got = std::get_if<lw::packet_frame>(&decoded);
  BOOST_TEST_REQUIRE(got != nullptr);
  check_same_packet(p, got->value);
}

// A misaligned header is read from an aligned copy: on the stack up to 1 KiB, on the heap beyond.
BOOST_AUTO_TEST_CASE(misaligned_headers_of_any_size_decode) {
  packet small;
  small.set("x", patterned(dtype::f32, {4}, 5));
  auto big = sample_packet();
  big.metadata.emplace_back("caption", std::string(3000, 'c'));
  for (const auto* p : {&small, &big}) {
    auto message = lw::encode_packet(*p, 5);
    BOOST_TEST((message.header.size() < 1024) == (p == &small));
    for (std::size_t misalign : {1u, 4u, 7u}) {
      auto decoded =
          lw::decode(copy_at(message.header, misalign), copied(message.payloads), "inproc://test");
      auto* got = std::get_if<lw::packet_frame>(&decoded);
      BOOST_TEST_REQUIRE(got != nullptr);
      check_same_packet(*p, got->value);
    }
  }
}

BOOST_AUTO_TEST_CASE(decoded_tensors_keep_the_frames_alive) {
  packet p;
  p.set("x", patterned(dtype::f32, {64}, 3));
  const auto expected = bytes_of(p.at("x"));
  auto message = lw::encode_packet(p, 0);
  bool released = false;
  auto source = copy_at(message.payloads[0]);
  auto frame = buffer::adopt(source.data(), source.size(), [source, &released] { released = true; });
  source = buffer();
  tensor kept;
  {
    std::vector<buffer> frames{frame};
    frame = buffer();
    auto decoded = lw::decode(message.header, frames, "inproc://test");
    kept = std::get<lw::packet_frame>(decoded).value.at("x");
  }
  BOOST_TEST(!released);
  BOOST_TEST((bytes_of(kept) == expected));
  kept = tensor();
  BOOST_TEST(released);
}

BOOST_AUTO_TEST_CASE(strided_tensors_are_gathered_and_counted) {
  // The transpose of a 3 x 4 f32 matrix as a strided view: the wire carries it dense.
  auto base = patterned(dtype::f32, {3, 4}, 11);
  tensor transposed(dtype::f32, {4, 3}, {1, 4}, base.memory());
  packet p;
  p.set("t", transposed);
  auto message = lw::encode_packet(p, 1);
  BOOST_TEST(message.bytes_copied == 48u);
  auto decoded = lw::decode(message.header, message.payloads, "inproc://test");
  const auto& t = std::get<lw::packet_frame>(decoded).value.at("t");
  BOOST_TEST((t.shape() == shape_t{4, 3}));
  const auto* in = base.data<float>();
  const auto* out = t.data<float>();
  for (int i = 0; i < 4; ++i)
    for (int j = 0; j < 3; ++j) BOOST_TEST(out[i * 3 + j] == in[j * 4 + i]);
}

BOOST_AUTO_TEST_CASE(misaligned_frames_are_realigned_and_only_payloads_counted) {
  packet p;
  p.set("a", patterned(dtype::f32, {5}, 1));
  p.set("b", patterned(dtype::u8, {7}, 2));
  p.set("c", patterned(dtype::i64, {3}, 3));
  auto message = lw::encode_packet(p, 9);
  // Header 4 bytes off its alignment, f32 and i64 payloads off by 1, u8 off by 1 (harmless).
  std::vector<buffer> frames{copy_at(message.payloads[0], 1), copy_at(message.payloads[1], 1),
                             copy_at(message.payloads[2], 1)};
  auto decoded = lw::decode(copy_at(message.header, 4), frames, "inproc://test");
  const auto& got = std::get<lw::packet_frame>(decoded);
  BOOST_TEST(got.bytes_copied == 5u * 4 + 3u * 8);
  check_same_packet(p, got.value);
  BOOST_TEST(reinterpret_cast<std::uintptr_t>(got.value.at("a").raw()) % 4 == 0u);
  BOOST_TEST(reinterpret_cast<std::uintptr_t>(got.value.at("c").raw()) % 8 == 0u);
  BOOST_TEST(got.value.at("b").raw() == frames[1].data());
}

BOOST_AUTO_TEST_CASE(control_frames_round_trip) {
  const lw::hello h{"0.1.0", lw::wire_protocol_version, "sha256:abc", "gpu-box-1"};
  auto decoded = lw::decode(lw::encode_frame(h).header, {}, "peer");
  const auto& got = std::get<lw::hello>(decoded);
  BOOST_TEST(got.loom_version == h.loom_version);
  BOOST_TEST(got.protocol_version == h.protocol_version);
  BOOST_TEST(got.graph_hash == h.graph_hash);
  BOOST_TEST(got.node_name == h.node_name);

  auto c = std::get<lw::credit>(lw::decode(lw::encode_frame(lw::credit{12, 34}).header, {}, "p"));
  BOOST_TEST(c.edge_id == 12u);
  BOOST_TEST(c.count == 34u);
  auto beat = std::get<lw::heartbeat>(lw::decode(lw::encode_frame(lw::heartbeat{-5}).header, {}, "p"));
  BOOST_TEST(beat.sent_ns == -5);
  auto b = std::get<lw::bye>(lw::decode(lw::encode_frame(lw::bye{"graph finished"}).header, {}, "p"));
  BOOST_TEST(b.reason == "graph finished");
  auto e = std::get<lw::peer_error>(
      lw::decode(lw::encode_frame(lw::peer_error{"out of memory"}).header, {}, "p"));
  BOOST_TEST(e.message == "out of memory");
}

BOOST_AUTO_TEST_CASE(hello_comparison_refuses_with_clear_messages) {
  const lw::hello ours{"0.1.0", lw::wire_protocol_version, "hash-a", "node-a"};
  BOOST_TEST(!lw::refuse_reason(ours, {"0.1.0", lw::wire_protocol_version, "hash-a", "node-b"}));
  // An external client runs no graph and sends no hash.
  BOOST_TEST(!lw::refuse_reason(ours, {"0.1.0", lw::wire_protocol_version, "", "client"}));

  auto version = lw::refuse_reason(ours, {"0.2.0", lw::wire_protocol_version + 1, "hash-a", "node-b"});
  BOOST_TEST_REQUIRE(version.has_value());
  BOOST_TEST_INFO(*version);
  BOOST_TEST(version->find("refusing peer \"node-b\"") != std::string::npos);
  BOOST_TEST(version->find("wire protocol " + std::to_string(lw::wire_protocol_version + 1)) !=
             std::string::npos);
  BOOST_TEST(version->find("speaks " + std::to_string(lw::wire_protocol_version)) !=
             std::string::npos);
  BOOST_TEST(version->find("run the same loom release on every node") != std::string::npos);

  auto graph = lw::refuse_reason(ours, {"0.1.0", lw::wire_protocol_version, "hash-b", "node-b"});
  BOOST_TEST_REQUIRE(graph.has_value());
  BOOST_TEST_INFO(*graph);
  BOOST_TEST(graph->find("runs graph \"hash-b\"") != std::string::npos);
  BOOST_TEST(graph->find("runs graph \"hash-a\"") != std::string::npos);
  BOOST_TEST(graph->find("deploy the same graph file to every node") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(malformed_headers_are_refused) {
  auto valid = lw::encode_packet(sample_packet(), 2);
  const auto& payloads = valid.payloads;

  expect_refused(buffer::allocate(0), {}, "empty");
  expect_refused(copy_buffer(valid.header).share(0, valid.header.size() - 3), payloads,
                 "not a multiple of 8");
  // Every truncation to whole words.
  for (std::size_t size = 8; size < valid.header.size(); size += 8)
    BOOST_CHECK_THROW(lw::decode(copy_buffer(valid.header).share(0, size), payloads, "p"),
                      lw::wire_error);
  expect_refused(words_buffer({2}), payloads, "too short");  // 3 segments: a 2-word table
  expect_refused(words_buffer({0xffffffffull, 0, 0}), {}, "segment count");
  // One segment claimed to be longer than what follows.
  expect_refused(words_buffer({std::uint64_t{1000} << 32, 0}), {}, "segment table describes");

  std::mt19937_64 random(1);
  for (std::size_t words : {1, 2, 3, 8, 64, 1000}) {
    std::vector<std::uint64_t> noise(words);
    for (auto& w : noise) w = random();
    BOOST_CHECK_THROW(lw::decode(words_buffer(noise), payloads, "p"), lw::wire_error);
    noise[0] = std::uint64_t{words - 1} << 32;  // a plausible table, garbage content
    try {
      lw::decode(words_buffer(noise), {}, "p");
    } catch (const lw::wire_error&) {
    }
  }
  lw::wire_limits small_header;
  small_header.max_header_bytes = 64;
  expect_refused(valid.header, payloads, "max_header_bytes", small_header);
}

BOOST_AUTO_TEST_CASE(frames_that_do_not_match_the_header_are_refused) {
  auto valid = lw::encode_packet(sample_packet(), 2);
  auto fewer = valid.payloads;
  fewer.pop_back();
  expect_refused(valid.header, fewer, "payload frames follow it");
  auto more = valid.payloads;
  more.push_back(buffer::allocate(4));
  expect_refused(valid.header, more, "payload frames follow it");

  auto wrong_size = valid.payloads;
  wrong_size[3] = buffer::allocate(wrong_size[3].size() + 4);
  expect_refused(valid.header, wrong_size, "frame 4 (payload)");

  // Payload frames after a header that is not a packet.
  expect_refused(lw::encode_frame(lw::heartbeat{1}).header, {buffer::allocate(8)},
                 "not a packet");

  auto [message, byte_size_word] = one_i64_tensor();
  set_word(message.header, byte_size_word, 8160);
  expect_refused(message.header, message.payloads, "declares 8160 bytes");
}

BOOST_AUTO_TEST_CASE(unknown_dtypes_are_refused) {
  for (std::uint64_t code : {0, 7, 77, 65535}) {
    auto [message, byte_size_word] = one_i64_tensor();
    set_word(message.header, byte_size_word - 1, code);
    expect_refused(message.header, message.payloads, "unknown dtype " + std::to_string(code));
  }
  // The patch location is right: a known code is accepted and read.
  auto [message, byte_size_word] = one_i64_tensor();
  set_word(message.header, byte_size_word - 1, 6);  // f32: 8168 bytes would be 2042 elements
  expect_refused(message.header, message.payloads, "dtype f32 need 4084");
}

BOOST_AUTO_TEST_CASE(limits_are_enforced) {
  const auto p = sample_packet();
  auto valid = lw::encode_packet(p, 2);
  lw::wire_limits limits;

  limits = {};
  limits.max_tensors = 4;
  expect_refused(valid.header, valid.payloads, "payload frames follow the header, over the limit",
                 limits);
  expect_refused(valid.header, {}, "the number of tensors", limits);

  limits = {};
  limits.max_rank = 3;
  expect_refused(valid.header, valid.payloads, "the rank of tensor \"u8_rank4\"", limits);

  limits = {};
  limits.max_metadata_entries = 2;
  expect_refused(valid.header, valid.payloads, "metadata entries", limits);

  limits = {};
  limits.max_string_bytes = 5;
  expect_refused(valid.header, valid.payloads, "max_string_bytes", limits);

  limits = {};
  limits.max_tensor_elements = 20;
  expect_refused(valid.header, valid.payloads, "max_tensor_elements", limits);

  limits = {};
  limits.max_tensor_bytes = 100;
  expect_refused(valid.header, valid.payloads, "max_tensor_bytes", limits);

  limits = {};
  limits.max_message_elements = 200;
  expect_refused(valid.header, valid.payloads, "max_message_elements", limits);

  limits = {};
  limits.max_message_bytes = 500;
  expect_refused(valid.header, valid.payloads, "max_message_bytes", limits);

  // A dimension near 2^64 is refused before any product is formed.
  auto [message, byte_size_word] = one_i64_tensor();
  const auto shape_word = find_word(message.header, 1021);
  set_word(message.header, shape_word, ~std::uint64_t{0});
  expect_refused(message.header, message.payloads, "a dimension of tensor \"tokens\"");

  packet twice;
  twice.tensors.push_back({"x", patterned(dtype::u8, {2}, 1)});
  twice.tensors.push_back({"x", patterned(dtype::u8, {2}, 2)});
  auto duplicated = lw::encode_packet(twice, 0);
  expect_refused(duplicated.header, duplicated.payloads, "appears twice");
}

BOOST_AUTO_TEST_CASE(oversized_metadata_is_refused) {
  packet p;
  for (int i = 0; i < 65; ++i) p.metadata.emplace_back("k" + std::to_string(i), "v");
  BOOST_CHECK_THROW(lw::encode_packet(p, 0), lw::wire_error);
  lw::wire_limits generous;
  generous.max_metadata_entries = 1000;
  auto many = lw::encode_packet(p, 0, generous);
  expect_refused(many.header, {}, "the number of metadata entries is 65, over the limit of 64");

  packet long_value;
  long_value.metadata.emplace_back("k", std::string(5000, 'x'));
  generous.max_string_bytes = 10000;
  auto big = lw::encode_packet(long_value, 0, generous);
  expect_refused(big.header, {}, "a metadata value's length is 5000, over the limit of 4096");
}

BOOST_AUTO_TEST_CASE(deep_nesting_is_refused) {
  // A chain of 4000 struct pointers, each to a struct holding one more pointer.
  std::vector<std::uint64_t> chain(4001, std::uint64_t{1} << 48);
  chain[0] = std::uint64_t{4000} << 32;  // segment table: one segment of 4000 words
  chain[4000] = 0;
  expect_refused(words_buffer(chain), {}, "malformed Cap'n Proto header");

  // The nesting limit reaches Cap'n Proto: a packet header (frame, packet, tensor list, tensor,
  // shape) needs five levels.
  lw::wire_limits shallow;
  shallow.max_nesting = 4;
  auto valid = lw::encode_packet(sample_packet(), 2);
  expect_refused(valid.header, valid.payloads, "deeply-nested", shallow);
  shallow.max_nesting = 5;
  BOOST_CHECK_NO_THROW(lw::decode(valid.header, valid.payloads, "p", shallow));
}

BOOST_AUTO_TEST_CASE(senders_check_what_receivers_would_refuse) {
  packet p;
  p.set("x", tensor(dtype::f32, {4}, buffer::allocate(16), "cuda:0"));
  BOOST_CHECK_THROW(lw::encode_packet(p, 0), lw::wire_error);
  packet unnamed;
  unnamed.tensors.push_back({"", patterned(dtype::u8, {1}, 1)});
  BOOST_CHECK_THROW(lw::encode_packet(unnamed, 0), lw::wire_error);
  packet many;
  for (int i = 0; i < 65; ++i) many.set("t" + std::to_string(i), patterned(dtype::u8, {1}, i));
  BOOST_CHECK_THROW(lw::encode_packet(many, 0), lw::wire_error);
  BOOST_CHECK_THROW(lw::encode_frame(lw::bye{std::string(5000, 'x')}), lw::wire_error);
}

BOOST_AUTO_TEST_CASE(fuzzed_headers_never_crash) {
  packet p;
  p.stream_id = 3;
  p.metadata = {{"k", "value"}};
  p.set("a", patterned(dtype::f32, {2, 3}, 1));
  p.set("b", patterned(dtype::u8, {5}, 2));
  p.set("c", patterned(dtype::i64, {}, 3));
  const auto valid = lw::encode_packet(p, 4);
  const auto other = lw::encode_frame(lw::hello{"0.1.0", 1, "hash", "node"}).header;
  const std::vector<std::byte> original(valid.header.data(),
                                        valid.header.data() + valid.header.size());
  const lw::wire_limits limits;

  std::mt19937 random(20240601);
  auto pick = [&](std::size_t n) -> std::size_t {
    return n == 0 ? 0 : std::uniform_int_distribution<std::size_t>(0, n - 1)(random);
  };
  std::size_t accepted = 0, refused = 0;
  const auto start = std::chrono::steady_clock::now();
  for (int round = 0; round < 50000; ++round) {
    auto bytes = original;
    const int mutations = 1 + static_cast<int>(pick(4));
    for (int m = 0; m < mutations; ++m) {
      switch (pick(6)) {
        case 0:  // bit flip
          if (!bytes.empty()) bytes[pick(bytes.size())] ^= std::byte(1u << pick(8));
          break;
        case 1:  // random byte
          if (!bytes.empty()) bytes[pick(bytes.size())] = std::byte(pick(256));
          break;
        case 2:  // random aligned word: pointers and sizes are whole words
          if (bytes.size() >= 8) {
            std::uint64_t w = (std::uint64_t{random()} << 32) | random();
            std::memcpy(bytes.data() + pick(bytes.size() / 8) * 8, &w, 8);
          }
          break;
        case 3:  // truncation, usually to whole words
          bytes.resize(pick(bytes.size() + 1) &
                       (pick(4) == 0 ? ~std::size_t{0} : ~std::size_t{7}));
          break;
        case 4: {  // splice a run of this header over another place in it
          if (bytes.size() < 16) break;
          auto from = pick(bytes.size()), to = pick(bytes.size());
          auto n = std::min({pick(32) + 1, bytes.size() - from, bytes.size() - to});
          std::memmove(bytes.data() + to, bytes.data() + from, n);
          break;
        }
        case 5: {  // splice in a run of another message
          auto from = pick(other.size()), to = pick(bytes.size() + 1);
          auto n = std::min<std::size_t>(pick(24) + 1, other.size() - from);
          bytes.insert(bytes.begin() + to, other.data() + from, other.data() + from + n);
          break;
        }
      }
    }
    auto header = buffer::allocate(bytes.size());
    if (!bytes.empty()) std::memcpy(header.data(), bytes.data(), bytes.size());
    try {
      auto decoded = lw::decode(header, valid.payloads, "fuzz", limits);
      ++accepted;
      if (auto* got = std::get_if<lw::packet_frame>(&decoded)) {
        BOOST_TEST_REQUIRE(got->value.tensors.size() == valid.payloads.size());
        BOOST_TEST_REQUIRE(got->value.metadata.size() <= limits.max_metadata_entries);
        for (std::size_t i = 0; i < got->value.tensors.size(); ++i) {
          const auto& t = got->value.tensors[i].value;
          BOOST_TEST_REQUIRE(t.nbytes() == valid.payloads[i].size());
          BOOST_TEST_REQUIRE(t.rank() <= limits.max_rank);
        }
      }
    } catch (const lw::wire_error&) {
      ++refused;
    }
  }
  const auto seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  BOOST_TEST_MESSAGE("fuzz: " << accepted << " accepted, " << refused << " refused in "
                              << seconds << " s");
  BOOST_TEST(accepted + refused == 50000u);
  BOOST_TEST(refused > 0u);
  BOOST_TEST(accepted > 0u);
}
