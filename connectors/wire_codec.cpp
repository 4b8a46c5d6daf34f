// The wire codec (see wire_codec.hpp): Cap'n Proto headers built and read here, payloads passed by
// reference. Reading follows RELIABILITY.md for Cap'n Proto 0.9: the header's length, alignment
// and segment table are checked by hand before FlatArrayMessageReader sees it, the reader runs with
// a traversal limit derived from the header's size and a low nesting limit, every list and text
// size is checked against wire_limits before anything is built from it, and whatever the reader
// throws becomes a wire_error naming the peer and the frame.
#include "connectors/wire_codec.hpp"

#include <capnp/message.h>
#include <capnp/serialize.h>
#include <kj/exception.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <memory>
#include <type_traits>

#include <fmt/format.h>

#include "connectors/wire.capnp.h"
#include "devices/device.hpp"

namespace loom::wire {
namespace {

namespace schema = loom::wire_schema;

constexpr const char* format_fix =
    "the sender does not speak loom's wire format (an unpacked Cap'n Proto message of "
    "connectors/wire.capnp with its segment table); check that the endpoint is a loom node or a "
    "client built against that schema";

std::string limit_fix(std::string_view field) {
  return fmt::format("make it smaller at the sender, or raise wire_limits::{} on this node if "
                     "such messages are expected",
                     field);
}

// Errors about what a peer sent: where it came from, which frame, what was wrong, how to fix it.
class frame_errors {
 public:
  explicit frame_errors(std::string_view peer) : peer_(peer) {}

  [[noreturn]] void fail(std::size_t frame_index, std::string_view problem,
                         std::string_view fix) const {
    throw wire_error(fmt::format("wire: frame {} ({}) from {}: {}; {}", frame_index,
                                 frame_index == 0 ? "header" : "payload", peer_, problem, fix));
  }

  // `what` names the quantity: text, or a function that formats it (only called on failure, so
  // that checking a well-formed packet formats nothing).
  template <class What>
  void check_limit(std::size_t frame_index, const What& what, std::uint64_t found,
                   std::uint64_t limit, std::string_view field) const {
    if (found <= limit) return;
    std::string described;
    if constexpr (std::is_invocable_v<What>)
      described = what();
    else
      described = what;
    fail(frame_index, fmt::format("{} is {}, over the limit of {}", described, found, limit),
         limit_fix(field));
  }

  // The text's size is checked before it is copied out of the header.
  std::string text(capnp::Text::Reader value, std::string_view what,
                   const wire_limits& limits) const {
    check_limit(0, [&] { return fmt::format("the length of {}", what); }, value.size(),
                limits.max_string_bytes, "max_string_bytes");
    return std::string(value.cStr(), value.size());
  }

 private:
  std::string_view peer_;
};

// Sender-side checks: the same limits, with a message about the packet instead of a peer.
// `what` as in frame_errors::check_limit.
template <class What>
void check_outgoing(const What& what, std::uint64_t found, std::uint64_t limit,
                    std::string_view field) {
  if (found <= limit) return;
  std::string described;
  if constexpr (std::is_invocable_v<What>)
    described = what();
  else
    described = what;
  throw wire_error(fmt::format("wire: cannot send: {} is {}, over the limit of {}; {}", described,
                               found, limit, limit_fix(field)));
}

void check_outgoing_text(std::string_view what, std::string_view value,
                         const wire_limits& limits) {
  check_outgoing([&] { return fmt::format("the length of {}", what); }, value.size(),
                 limits.max_string_bytes, "max_string_bytes");
}

schema::DType to_wire(dtype type) {
  switch (type) {
    case dtype::u8: return schema::DType::U8;
    case dtype::i32: return schema::DType::I32;
    case dtype::i64: return schema::DType::I64;
    case dtype::f16: return schema::DType::F16;
    case dtype::bf16: return schema::DType::BF16;
    case dtype::f32: return schema::DType::F32;
  }
  throw wire_error(fmt::format("wire: dtype {} has no wire encoding", static_cast<int>(type)));
}

std::optional<dtype> from_wire(schema::DType type) {
  switch (type) {
    case schema::DType::U8: return dtype::u8;
    case schema::DType::I32: return dtype::i32;
    case schema::DType::I64: return dtype::i64;
    case schema::DType::F16: return dtype::f16;
    case schema::DType::BF16: return dtype::bf16;
    case schema::DType::F32: return dtype::f32;
    case schema::DType::UNSPECIFIED: break;
  }
  return std::nullopt;
}

// A message builder whose first segment is a zeroed array of its own rather than capnp's default
// 8 KiB calloc. Loom's frames mostly fit in it (a packet header with one tensor is about 30 words;
// larger ones grow into heap segments), so building one allocates only its flat copy — once per
// packet on a sending edge. The array is a base listed first, so that it outlives capnp's
// builder, which zeroes what it used when it goes.
struct frame_space {
  std::array<capnp::word, 256> words{};
};

class frame_builder : private frame_space, public capnp::MallocMessageBuilder {
 public:
  frame_builder() : capnp::MallocMessageBuilder(kj::arrayPtr(words.data(), words.size())) {}
};

// The builder's message as one flat array, handed over to a buffer without copying it again.
buffer flatten(capnp::MessageBuilder& builder) {
  auto words = std::make_shared<kj::Array<capnp::word>>(capnp::messageToFlatArray(builder));
  auto* data = reinterpret_cast<std::byte*>(words->begin());
  const auto size = words->size() * sizeof(capnp::word);
  return buffer::adopt(std::move(words), data, size);
}

// A dense copy of a tensor whose strides skip or reorder memory: the wire carries dense
// row-major bytes only.
buffer gather(const tensor& t) {
  const auto element = size_of(t.type());
  const auto count = static_cast<std::size_t>(t.numel());
  auto out = buffer::allocate(count * element);
  const auto& shape = t.shape();
  const auto& strides = t.strides();
  shape_t index(shape.size(), 0);
  auto* destination = out.data();
  for (std::size_t n = 0; n < count; ++n, destination += element) {
    std::int64_t offset = 0;
    for (std::size_t i = 0; i < shape.size(); ++i) offset += index[i] * strides[i];
    std::memcpy(destination, t.raw() + offset * static_cast<std::int64_t>(element), element);
    for (std::size_t i = shape.size(); i-- > 0;) {
      if (++index[i] < shape[i]) break;
      index[i] = 0;
    }
  }
  return out;
}

// What the validation pass keeps of one tensor header, so that the build pass does not follow
// the same pointers again (each read counts against the traversal limit).
struct tensor_view {
  capnp::Text::Reader name;
  dtype type = dtype::u8;
  capnp::List<std::uint64_t>::Reader shape;
  std::uint64_t bytes = 0;
};

struct metadata_view {
  capnp::Text::Reader key;
  capnp::Text::Reader value;
};

std::uint32_t read_u32_le(const std::byte* at) {
  std::uint32_t value = 0;
  for (int i = 3; i >= 0; --i) value = (value << 8) | std::to_integer<std::uint32_t>(at[i]);
  return value;
}

// The segment table, read before Cap'n Proto does: a hostile count would otherwise make the
// reader allocate a table of up to four billion segments.
void check_segment_table(const std::byte* data, std::size_t words, const frame_errors& errors,
                         const wire_limits& limits) {
  const std::uint64_t segments = std::uint64_t{read_u32_le(data)} + 1;
  errors.check_limit(0, "the segment count", segments, limits.max_segments, "max_segments");
  const std::uint64_t table_words = segments / 2 + 1;
  if (table_words > words)
    errors.fail(0,
                fmt::format("the header is {} bytes, too short for its table of {} segments",
                            words * 8, segments),
                "the message was cut short or is not a Cap'n Proto message; " +
                    std::string(format_fix));
  std::uint64_t content_words = 0;
  for (std::uint64_t i = 0; i < segments; ++i)
    content_words += read_u32_le(data + 4 + 4 * i);
  if (table_words + content_words != words)
    errors.fail(0,
                fmt::format("the header is {} bytes but its segment table describes {}",
                            words * 8, (table_words + content_words) * 8),
                "the message was cut short or padded; " + std::string(format_fix));
}

hello read_hello(schema::Hello::Reader h, const frame_errors& errors, const wire_limits& limits) {
  hello out;
  out.loom_version = errors.text(h.getLoomVersion(), "hello.loomVersion", limits);
  out.protocol_version = h.getProtocolVersion();
  out.graph_hash = errors.text(h.getGraphHash(), "hello.graphHash", limits);
  out.node_name = errors.text(h.getNodeName(), "hello.nodeName", limits);
  out.boot_id = errors.text(h.getBootId(), "hello.bootId", limits);
  return out;
}

packet_frame read_packet(schema::PacketHeader::Reader header, std::span<const buffer> payloads,
                         const frame_errors& errors, const wire_limits& limits) {
  auto metadata = header.getMetadata();
  errors.check_limit(0, "the number of metadata entries", metadata.size(),
                     limits.max_metadata_entries, "max_metadata_entries");
  auto tensors = header.getTensors();
  errors.check_limit(0, "the number of tensors", tensors.size(), limits.max_tensors,
                     "max_tensors");
  if (tensors.size() != payloads.size())
    errors.fail(0,
                fmt::format("the header lists {} tensors but {} payload frames follow it",
                            tensors.size(), payloads.size()),
                "the sender must send exactly one frame per tensor, in the header's order");

  // Validation: every size, count and name, before anything is built.
  std::vector<metadata_view> entries;
  entries.reserve(metadata.size());
  for (auto entry : metadata) {
    metadata_view view{entry.getKey(), entry.getValue()};
    errors.check_limit(0, "a metadata key's length", view.key.size(), limits.max_string_bytes,
                       "max_string_bytes");
    errors.check_limit(0, "a metadata value's length", view.value.size(),
                       limits.max_string_bytes, "max_string_bytes");
    entries.push_back(view);
  }
  const std::uint64_t max_rank = std::min<std::uint64_t>(limits.max_rank, dims::max_rank);
  std::vector<tensor_view> views;
  views.reserve(tensors.size());
  std::uint64_t message_elements = 0;
  std::uint64_t message_bytes = 0;
  for (unsigned i = 0; i < tensors.size(); ++i) {
    auto t = tensors[i];
    tensor_view view;
    view.name = t.getName();
    errors.check_limit(0, [&] { return fmt::format("the name length of tensor {}", i); },
                       view.name.size(), limits.max_string_bytes, "max_string_bytes");
    const std::string_view name(view.name.cStr(), view.name.size());
    if (name.empty())
      errors.fail(0, fmt::format("tensor {} has no name", i),
                  "every tensor in a packet needs its port's name");
    for (const auto& earlier : views)
      if (std::string_view(earlier.name.cStr(), earlier.name.size()) == name)
        errors.fail(0, fmt::format("tensor name {:?} appears twice", name),
                    "a packet holds each name once");
    auto type = from_wire(t.getDtype());
    if (!type)
      errors.fail(0,
                  fmt::format("tensor {:?} has unknown dtype {}", name,
                              static_cast<unsigned>(t.getDtype())),
                  fmt::format("loom knows {}; the sender may speak a newer wire protocol",
                              dtype_names()));
    view.type = *type;
    view.shape = t.getShape();
    errors.check_limit(0, [&] { return fmt::format("the rank of tensor {:?}", name); },
                       view.shape.size(), max_rank, "max_rank");
    std::uint64_t elements = 1;
    for (auto d : view.shape) {
      errors.check_limit(0, [&] { return fmt::format("a dimension of tensor {:?}", name); }, d,
                         limits.max_tensor_elements, "max_tensor_elements");
      // Checked before multiplying, so the product cannot overflow.
      if (d != 0 && elements > limits.max_tensor_elements / d) {
        errors.fail(0,
                    fmt::format("tensor {:?} has more than {} elements", name,
                                limits.max_tensor_elements),
                    limit_fix("max_tensor_elements"));
      }
      elements *= d;
    }
    const std::uint64_t bytes = elements * size_of(view.type);
    errors.check_limit(0, [&] { return fmt::format("the size of tensor {:?} in bytes", name); },
                       bytes, limits.max_tensor_bytes, "max_tensor_bytes");
    if (t.getByteSize() != bytes)
      errors.fail(0,
                  fmt::format("tensor {:?} declares {} bytes but its shape and dtype {} need {}",
                              name, t.getByteSize(), name_of(view.type), bytes),
                  "byteSize must be the product of the shape times the element size");
    if (payloads[i].size() != bytes)
      errors.fail(i + 1,
                  fmt::format("tensor {:?} is {} {} elements = {} bytes, its frame has {}", name,
                              elements, name_of(view.type), bytes, payloads[i].size()),
                  "each payload frame must hold exactly its tensor's dense bytes");
    view.bytes = bytes;
    message_elements += elements;
    message_bytes += bytes;
    errors.check_limit(0, "the elements of all tensors", message_elements,
                       limits.max_message_elements, "max_message_elements");
    errors.check_limit(0, "the bytes of all tensors", message_bytes, limits.max_message_bytes,
                       "max_message_bytes");
    views.push_back(view);
  }

  packet_frame out;
  out.edge_id = header.getEdgeId();
  auto& p = out.value;
  p.stream_id = header.getStreamId();
  p.sequence = header.getSequence();
  p.created_ns = header.getCreatedNs();
  p.timestamp_us = header.getTimestampUs();
  p.metadata.reserve(entries.size());
  for (const auto& entry : entries)
    p.metadata.emplace_back(std::string(entry.key.cStr(), entry.key.size()),
                            std::string(entry.value.cStr(), entry.value.size()));
  p.tensors.reserve(views.size());
  for (std::size_t i = 0; i < views.size(); ++i) {
    const auto& view = views[i];
    const buffer& frame = payloads[i];
    buffer memory = frame;
    // Received frames may start anywhere (ZeroMQ hands out slices of its receive buffer): a
    // tensor read through a misaligned pointer is undefined behaviour, so such a payload is
    // copied into aligned memory — the only payload copy on the receiving side, counted.
    const auto element = size_of(view.type);
    if (view.bytes > 0 && reinterpret_cast<std::uintptr_t>(frame.data()) % element != 0) {
      memory = buffer::allocate(view.bytes);
      std::memcpy(memory.data(), frame.data(), view.bytes);
      out.bytes_copied += view.bytes;
    }
    shape_t shape;
    for (auto d : view.shape) shape.push_back(static_cast<std::int64_t>(d));
    p.tensors.push_back({std::string(view.name.cStr(), view.name.size()),
                         tensor(view.type, shape, std::move(memory))});
  }
  return out;
}

frame read_frame(schema::Frame::Reader root, std::span<const buffer> payloads,
                 const frame_errors& errors, const wire_limits& limits) {
  const auto kind = root.which();
  if (kind != schema::Frame::PACKET && !payloads.empty())
    errors.fail(1, fmt::format("{} payload frames follow a header that is not a packet",
                               payloads.size()),
                "only packet headers are followed by payload frames");
  switch (kind) {
    case schema::Frame::HELLO: return read_hello(root.getHello(), errors, limits);
    case schema::Frame::PACKET: return read_packet(root.getPacket(), payloads, errors, limits);
    case schema::Frame::CREDIT: {
      auto c = root.getCredit();
      return credit{c.getEdgeId(), c.getCount()};
    }
    case schema::Frame::HEARTBEAT: return heartbeat{root.getHeartbeat().getSentNs()};
    case schema::Frame::BYE: return bye{errors.text(root.getBye().getReason(), "bye.reason", limits)};
    case schema::Frame::ERROR:
      return peer_error{errors.text(root.getError().getMessage(), "error.message", limits)};
  }
  errors.fail(0, fmt::format("unknown frame kind {}", static_cast<unsigned>(kind)),
              "the sender speaks a newer wire protocol; run the same loom release on every node");
}

}  // namespace

std::uint64_t max_frame_bytes(const wire_limits& limits) {
  return std::max<std::uint64_t>(limits.max_header_bytes, limits.max_tensor_bytes);
}

encoded_message encode_packet(const packet& p, std::uint32_t edge_id, const wire_limits& limits) {
  check_outgoing("the number of tensors", p.tensors.size(), limits.max_tensors, "max_tensors");
  check_outgoing("the number of metadata entries", p.metadata.size(),
                 limits.max_metadata_entries, "max_metadata_entries");
  encoded_message out;
  out.payloads.reserve(p.tensors.size());
  std::uint64_t message_elements = 0;
  std::uint64_t message_bytes = 0;
  for (const auto& [name, t] : p.tensors) {
    check_outgoing_text("a tensor name", name, limits);
    if (name.empty())
      throw wire_error("wire: cannot send a tensor without a name; name it after its port");
    if (t.device() != host_memory_space)
      throw wire_error(fmt::format(
          "wire: cannot send tensor {:?}: it lives in memory space {:?}, the wire reads host "
          "memory; transfer it to the host first (devices/transfer.hpp)",
          name, t.device()));
    check_outgoing([&] { return fmt::format("the rank of tensor {:?}", name); }, t.rank(),
                   limits.max_rank, "max_rank");
    const auto elements = static_cast<std::uint64_t>(t.numel());
    const auto bytes = elements * size_of(t.type());
    check_outgoing([&] { return fmt::format("the elements of tensor {:?}", name); }, elements,
                   limits.max_tensor_elements, "max_tensor_elements");
    check_outgoing([&] { return fmt::format("the size of tensor {:?} in bytes", name); }, bytes,
                   limits.max_tensor_bytes, "max_tensor_bytes");
    message_elements += elements;
    message_bytes += bytes;
    if (t.is_contiguous()) {
      out.payloads.push_back(t.memory().share(0, bytes));
    } else {
      out.payloads.push_back(gather(t));
      out.bytes_copied += bytes;
    }
  }
  check_outgoing("the elements of all tensors", message_elements, limits.max_message_elements,
                 "max_message_elements");
  check_outgoing("the bytes of all tensors", message_bytes, limits.max_message_bytes,
                 "max_message_bytes");
  for (const auto& [key, value] : p.metadata) {
    check_outgoing_text("a metadata key", key, limits);
    check_outgoing_text("a metadata value", value, limits);
  }

  frame_builder builder;
  auto header = builder.initRoot<schema::Frame>().initPacket();
  header.setEdgeId(edge_id);
  header.setStreamId(p.stream_id);
  header.setSequence(p.sequence);
  header.setCreatedNs(p.created_ns);
  header.setTimestampUs(p.timestamp_us);
  auto metadata = header.initMetadata(static_cast<unsigned>(p.metadata.size()));
  for (unsigned i = 0; i < p.metadata.size(); ++i) {
    const auto& [key, value] = p.metadata[i];
    metadata[i].setKey(capnp::Text::Reader(key.data(), key.size()));
    metadata[i].setValue(capnp::Text::Reader(value.data(), value.size()));
  }
  auto tensors = header.initTensors(static_cast<unsigned>(p.tensors.size()));
  for (unsigned i = 0; i < p.tensors.size(); ++i) {
    const auto& [name, t] = p.tensors[i];
    auto out_tensor = tensors[i];
    out_tensor.setName(capnp::Text::Reader(name.data(), name.size()));
    out_tensor.setDtype(to_wire(t.type()));
    auto shape = out_tensor.initShape(static_cast<unsigned>(t.rank()));
    for (unsigned d = 0; d < t.rank(); ++d) shape.set(d, static_cast<std::uint64_t>(t.shape()[d]));
    out_tensor.setByteSize(out.payloads[i].size());
  }
  out.header = flatten(builder);
  check_outgoing("the header size", out.header.size(), limits.max_header_bytes,
                 "max_header_bytes");
  return out;
}

encoded_message encode_frame(const hello& h, const wire_limits& limits) {
  check_outgoing_text("hello.loomVersion", h.loom_version, limits);
  check_outgoing_text("hello.graphHash", h.graph_hash, limits);
  check_outgoing_text("hello.nodeName", h.node_name, limits);
  check_outgoing_text("hello.bootId", h.boot_id, limits);
  frame_builder builder;
  auto out = builder.initRoot<schema::Frame>().initHello();
  out.setLoomVersion(capnp::Text::Reader(h.loom_version.data(), h.loom_version.size()));
  out.setProtocolVersion(h.protocol_version);
  out.setGraphHash(capnp::Text::Reader(h.graph_hash.data(), h.graph_hash.size()));
  out.setNodeName(capnp::Text::Reader(h.node_name.data(), h.node_name.size()));
  out.setBootId(capnp::Text::Reader(h.boot_id.data(), h.boot_id.size()));
  return {flatten(builder), {}, 0};
}

encoded_message encode_frame(const credit& c) {
  frame_builder builder;
  auto out = builder.initRoot<schema::Frame>().initCredit();
  out.setEdgeId(c.edge_id);
  out.setCount(c.count);
  return {flatten(builder), {}, 0};
}

encoded_message encode_frame(const heartbeat& h) {
  frame_builder builder;
  builder.initRoot<schema::Frame>().initHeartbeat().setSentNs(h.sent_ns);
  return {flatten(builder), {}, 0};
}

encoded_message encode_frame(const bye& b, const wire_limits& limits) {
  check_outgoing_text("bye.reason", b.reason, limits);
  frame_builder builder;
  builder.initRoot<schema::Frame>().initBye().setReason(
      capnp::Text::Reader(b.reason.data(), b.reason.size()));
  return {flatten(builder), {}, 0};
}

encoded_message encode_frame(const peer_error& e, const wire_limits& limits) {
  check_outgoing_text("error.message", e.message, limits);
  frame_builder builder;
  builder.initRoot<schema::Frame>().initError().setMessage(
      capnp::Text::Reader(e.message.data(), e.message.size()));
  return {flatten(builder), {}, 0};
}

frame decode(const buffer& header, std::span<const buffer> payloads, std::string_view peer,
             const wire_limits& limits) {
  const frame_errors errors(peer);
  const std::size_t size = header.size();
  if (size == 0) errors.fail(0, "the header frame is empty", format_fix);
  errors.check_limit(0, "the header size in bytes", size, limits.max_header_bytes,
                     "max_header_bytes");
  if (size % sizeof(capnp::word) != 0)
    errors.fail(0, fmt::format("the header is {} bytes, not a multiple of 8", size), format_fix);
  if (payloads.size() > limits.max_tensors)
    errors.fail(limits.max_tensors + 1,
                fmt::format("{} payload frames follow the header, over the limit of {}",
                            payloads.size(), limits.max_tensors),
                limit_fix("max_tensors"));

  // Cap'n Proto reads words in place, so they must be 8-byte aligned; a header that is not gets
  // copied (headers are small: this is not a payload copy). ZeroMQ hands out received frames at
  // any offset of its receive buffer, so this is most packets' path: a header of the usual size
  // is copied onto the stack, a larger one to the heap.
  const std::size_t words = size / sizeof(capnp::word);
  const auto* data = header.data();
  std::array<capnp::word, 128> on_stack;  // 1 KiB: a packet header of a dozen tensors
  kj::Array<capnp::word> on_heap;
  if (reinterpret_cast<std::uintptr_t>(data) % alignof(capnp::word) != 0) {
    capnp::word* aligned = on_stack.data();
    if (words > on_stack.size()) {
      on_heap = kj::heapArray<capnp::word>(words);
      aligned = on_heap.begin();
    }
    std::memcpy(aligned, data, size);
    data = reinterpret_cast<const std::byte*>(aligned);
  }
  check_segment_table(data, words, errors, limits);

  capnp::ReaderOptions options;
  // Each object of a well-formed header is read once, so twice its size is room enough; more
  // would only serve a header whose pointers alias one object to amplify the work.
  options.traversalLimitInWords = 2 * words + 64;
  options.nestingLimit = limits.max_nesting;
  try {
    capnp::FlatArrayMessageReader reader(
        kj::arrayPtr(reinterpret_cast<const capnp::word*>(data), words), options);
    return read_frame(reader.getRoot<schema::Frame>(), payloads, errors, limits);
  } catch (const wire_error&) {
    throw;
  } catch (const kj::Exception& e) {
    errors.fail(0, fmt::format("malformed Cap'n Proto header: {}", e.getDescription().cStr()),
                std::string(format_fix) +
                    " (a well-formed header refused as too deeply nested needs a higher "
                    "wire_limits::max_nesting on this node)");
  } catch (const std::exception& e) {
    errors.fail(0, fmt::format("the header could not be read: {}", e.what()), format_fix);
  }
}

std::optional<std::string> refuse_reason(const hello& ours, const hello& theirs) {
  if (ours.protocol_version != theirs.protocol_version)
    return fmt::format(
        "refusing peer {:?} (loom {:?}): it speaks wire protocol {}, this node {:?} (loom {}) "
        "speaks {}; run the same loom release on every node",
        theirs.node_name, theirs.loom_version, theirs.protocol_version, ours.node_name,
        ours.loom_version, ours.protocol_version);
  if (!ours.graph_hash.empty() && !theirs.graph_hash.empty() &&
      ours.graph_hash != theirs.graph_hash)
    return fmt::format(
        "refusing peer {:?}: it runs graph {:?}, this node {:?} runs graph {:?}; deploy the same "
        "graph file to every node (stop the old run and start the new one everywhere)",
        theirs.node_name, theirs.graph_hash, ours.node_name, ours.graph_hash);
  return std::nullopt;
}

}  // namespace loom::wire
