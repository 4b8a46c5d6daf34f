// synthetic_source: emits `count` packets holding one tensor "data" of a given shape and dtype,
// as fast as credit allows or paced to `rate_hz`. For benchmarks, tests and smoke runs.
//
//   [stages.src]
//   type = "synthetic_source"
//   count = 1000
//   shape = [3, 224, 224]
//   dtype = "f32"
//   rate_hz = 30          # 0: as fast as the pipeline takes them
//
// Every packet shares one buffer (the tensor is immutable) unless `fresh = true`, which allocates
// and fills a new one per packet, as a camera or decoder would.
#include <chrono>
#include <algorithm>
#include <cstring>

#include "stages/registry.hpp"

namespace loom {
namespace {

class synthetic_source final : public stage {
 public:
  void open(stage_context& ctx) override {
    const auto& p = ctx.params();
    count_ = static_cast<std::uint64_t>(p.integer("count"));
    type_ = *parse_dtype(p.string("dtype"));
    shape_ = p.integers("shape");
    fresh_ = p.boolean("fresh");
    stream_id_ = static_cast<std::uint64_t>(p.integer("stream_id"));
    double rate = p.number("rate_hz");
    if (rate > 0) period_ = std::chrono::nanoseconds(static_cast<std::int64_t>(1e9 / rate));
    if (!fresh_) shared_ = make_tensor();
  }

  void process(stage_context& ctx) override {
    if (next_ >= count_ || ctx.stop_requested()) {
      ctx.finish();
      return;
    }
    if (period_.count() > 0) {
      auto now = std::chrono::steady_clock::now();
      if (next_ == 0) start_ = now;
      auto due = start_ + period_ * next_;
      if (now < due) {
        ctx.retry_after(std::chrono::duration_cast<std::chrono::microseconds>(due - now));
        return;
      }
    }
    packet p;
    p.stream_id = stream_id_;
    p.sequence = next_;
    p.created_ns = steady_now_ns();
    p.timestamp_us = period_.count() > 0 ? static_cast<std::int64_t>(next_) * period_.count() / 1000
                                         : p.created_ns / 1000;
    p.tensors.push_back({"data", fresh_ ? make_tensor() : shared_});
    ++next_;
    ctx.emit("out", make_shared_packet(std::move(p)));
  }

 private:
  tensor make_tensor() const {
    auto t = tensor::zeros(type_, shape_);
    // A recognisable pattern, the low byte of each byte's offset, laid down 256 bytes at a time
    // so that large tensors are filled at memcpy speed.
    auto* bytes = t.raw();
    std::size_t size = t.nbytes();
    for (std::size_t i = 0; i < std::min<std::size_t>(size, 256); ++i)
      bytes[i] = static_cast<std::byte>(i);
    for (std::size_t done = 256; done < size; done += 256)
      std::memcpy(bytes + done, bytes, std::min<std::size_t>(256, size - done));
    return t;
  }

  std::uint64_t count_ = 0, next_ = 0, stream_id_ = 0;
  dtype type_ = dtype::u8;
  shape_t shape_;
  bool fresh_ = false;
  tensor shared_;
  std::chrono::nanoseconds period_{0};
  std::chrono::steady_clock::time_point start_;
};

}  // namespace

stage_spec synthetic_source_spec() {
  stage_spec spec;
  spec.type = "synthetic_source";
  spec.summary = "Emits `count` packets of one synthetic tensor, optionally paced";
  spec.doc = R"(Emits `count` packets, each holding one tensor named "data" with the given shape
and dtype, filled with a byte pattern. Sequence numbers run from 0; timestamps are media
time (sequence / rate_hz) when paced, else the creation time.

    [stages.src]
    type = "synthetic_source"
    count = 1000
    shape = [3, 224, 224]
    dtype = "f32"
    rate_hz = 30)";
  spec.outputs = {{"out", "packets with one tensor \"data\"", {}}};
  spec.params = {
      integer_param("count", 1000, "number of packets to emit", 0),
      integer_list_param("shape", std::vector<std::int64_t>{16}, "shape of the tensor", 0),
      string_param("dtype", "u8", "element type", {"u8", "i32", "i64", "f16", "bf16", "f32"}),
      number_param("rate_hz", 0.0, "packets per second; 0 emits as fast as credit allows", 0),
      boolean_param("fresh", false,
                    "allocate a new buffer for every packet instead of sharing one"),
      integer_param("stream_id", 0, "stream id stamped on every packet", 0),
  };
  spec.make = [] { return std::make_unique<synthetic_source>(); };
  spec.infer = [](const param_values& p, const std::vector<port_type>&) {
    const auto& shape = p.integers("shape");
    return std::vector<port_type>{
        {parse_dtype(p.string("dtype")), static_cast<int>(shape.size()), dims(shape)}};
  };
  return spec;
}

}  // namespace loom
