// align: joins two streams by media timestamp. Each packet on `a` (the primary stream, e.g.
// prompts) is paired with the packets on `b` (e.g. video frames) whose timestamps lie within
// `tolerance_us` of its own: the nearest one, or every one in the window. What has no partner
// follows the `unmatched` policy. The logic is stages/media/timestamp_aligner.hpp.
//
//   [stages.pair]
//   type = "align"
//   tolerance_us = 20000     # ± 20 ms
//   mode = "nearest"         # or "window": every b packet within the tolerance, stacked
//   unmatched = "drop"       # or "pass" (a alone) or "wait" (the first b after the window)
//   inputs.a = "prompts.out"
//   inputs.b = "frames.out"
//
// The output is the `a` packet (its stream, sequence, timestamp, tensors and metadata) plus:
//   - the tensors of the matched `b` packet as "b.<name>" (nearest), or in window mode each
//     tensor of the matched packets stacked along a new first axis as "b.<name>" [k, ...]
//     (a copy; the packets must hold the same shapes), so a window of frames [H, W, 3] becomes
//     a clip [k, H, W, 3] that video_sink and image_sink take;
//   - metadata "b.sequence" and "b.timestamp_us" (comma-separated in window mode), the `b`
//     packet's metadata as "b.<key>" (nearest), "align.late" = "true" for a late match and
//     "align.missing" = "b" when `a` passes alone.
//
// The stage takes its inputs as they arrive (not paired by sequence number) and holds at most
// `max_pending` packets per stream. Timestamps must not decrease within a stream; a packet
// that goes back in time fails with an error and is left out. Join more than two streams by
// chaining align stages. Keep `replicas = 1`: replicas would each see part of both streams.
#include <cstring>
#include <stdexcept>

#include <fmt/format.h>

#include "stages/media/timestamp_aligner.hpp"
#include "stages/registry.hpp"

namespace loom {
namespace {

std::string joined(const std::vector<packet_ptr>& packets, auto field) {
  std::string out;
  for (const auto& p : packets) out += fmt::format("{}{}", out.empty() ? "" : ",", field(*p));
  return out;
}

// The tensors called `name` in `packets`, one after the other along a new first axis.
tensor stack(const std::vector<packet_ptr>& packets, const std::string& name) {
  const auto& first = packets.front()->at(name);
  shape_t shape;
  shape.push_back(static_cast<std::int64_t>(packets.size()));
  for (auto d : first.shape()) shape.push_back(d);
  auto out = tensor::zeros(first.type(), shape);
  std::size_t offset = 0;
  for (const auto& p : packets) {
    const auto* t = p->find(name);
    if (t == nullptr || t->type() != first.type() || t->shape() != first.shape())
      throw std::invalid_argument(fmt::format(
          "cannot stack tensor '{}' of the window: packet {} holds {}", name, p->sequence,
          t == nullptr ? std::string("none") : fmt::format("{} {}", name_of(t->type()), to_string(t->shape()))));
    if (t->device() != "cpu" || !t->is_contiguous())
      throw std::invalid_argument(fmt::format(
          "cannot stack tensor '{}' of packet {}: it must be dense and on the CPU", name, p->sequence));
    std::memcpy(out.raw() + offset, t->raw(), t->nbytes());
    offset += t->nbytes();
  }
  return out;
}

class align final : public stage {
 public:
  void open(stage_context& ctx) override {
    const auto& p = ctx.params();
    aligner_options options;
    options.streams = 2;
    options.tolerance_us = p.integer("tolerance_us");
    options.mode = p.string("mode") == "window" ? align_mode::window : align_mode::nearest;
    const auto& unmatched = p.string("unmatched");
    options.unmatched = unmatched == "pass"   ? unmatched_policy::pass
                        : unmatched == "wait" ? unmatched_policy::wait
                                              : unmatched_policy::drop;
    options.max_pending = static_cast<std::size_t>(p.integer("max_pending"));
    aligner_.emplace(options);
  }

  void process(stage_context& ctx) override {
    auto port = ctx.arrived_port();
    aligner_->push(port == "a" ? 0 : 1, ctx.input_ptr(port));
    emit_decided(ctx);
  }

  void close(stage_context& ctx) override {
    aligner_->end_all();
    emit_decided(ctx);
  }

 private:
  void emit_decided(stage_context& ctx) {
    while (auto group = aligner_->pop()) {
      const auto& matched = group->others[0];
      auto out = group->primary->derive();
      out.tensors = group->primary->tensors;
      if (matched.empty()) {
        out.metadata.emplace_back("align.missing", "b");
      } else {
        out.metadata.emplace_back("b.sequence", joined(matched, [](const packet& p) { return p.sequence; }));
        out.metadata.emplace_back("b.timestamp_us",
                                  joined(matched, [](const packet& p) { return p.timestamp_us; }));
        if (group->late) out.metadata.emplace_back("align.late", "true");
        if (aligner_->options().mode == align_mode::nearest) {
          for (const auto& [name, value] : matched[0]->tensors) out.tensors.push_back({"b." + name, value});
          for (const auto& [key, value] : matched[0]->metadata) out.metadata.emplace_back("b." + key, value);
        } else {
          for (const auto& t : matched[0]->tensors) out.tensors.push_back({"b." + t.name, stack(matched, t.name)});
        }
      }
      ctx.emit("out", std::move(out));
    }
    // Primary packets the aligner gave up on show in the stage's `dropped` stat. Secondary
    // packets that joined no group are not drops: a faster stream matched by `nearest` leaves
    // most of them unused by design.
    const auto& c = aligner_->counts();
    auto discarded = c.dropped + c.overflowed;
    ctx.count_dropped(discarded - reported_dropped_);
    reported_dropped_ = discarded;
  }

  std::optional<timestamp_aligner> aligner_;
  std::uint64_t reported_dropped_ = 0;
};

}  // namespace

stage_spec align_spec() {
  stage_spec spec;
  spec.type = "align";
  spec.summary = "Joins two streams by timestamp within a tolerance";
  spec.doc = R"(Pairs each packet on `a` with the packets on `b` whose timestamps are within
`tolerance_us` of its own: the nearest one (mode "nearest"), or all of them stacked along a new
first axis (mode "window"). Their tensors join the `a` packet as "b.<name>", with metadata
"b.sequence" and "b.timestamp_us". An `a` packet with nothing in its window is dropped
(unmatched = "drop"), goes out alone with "align.missing" = "b" ("pass"), or takes the first
`b` packet after its window, marked "align.late" ("wait"). Inputs are taken as they arrive,
not paired by sequence number; timestamps must not decrease within a stream.

    [stages.pair]
    type = "align"
    tolerance_us = 20000
    mode = "nearest"
    unmatched = "drop"
    inputs.a = "prompts.out"
    inputs.b = "frames.out")";
  spec.inputs = {{"a", "the primary stream: one output per packet that is not dropped", {}},
                 {"b", "the stream joined to it", {}}};
  spec.outputs = {{"out", "the a packet with the matched b tensors as \"b.<name>\"", {}}};
  spec.inputs_order = input_order::as_they_arrive;
  spec.params = {
      integer_param("tolerance_us", 20'000, "largest distance in time between joined packets, in µs", 0,
                    3.6e9),
      string_param("mode", "nearest", "nearest: one b packet per a packet; window: all within the tolerance",
                   {"nearest", "window"}),
      string_param("unmatched", "drop",
                   "an a packet without partner: drop it, pass it alone, or wait for the first b after its window",
                   {"drop", "pass", "wait"}),
      integer_param("max_pending", 256,
                    "packets held per input at most; beyond it the oldest is decided or given up", 1, 1e6),
  };
  spec.make = [] { return std::make_unique<align>(); };
  return spec;
}

}  // namespace loom
