// shm_source: the receiving end of a graph edge between two processes on one host. It listens on a
// unix socket file, accepts one sender — a shm_sink in the other process — and emits what it
// sends on `out`, in order. Large tensors arrive as read-only views of the sender's shared memory
// segments (connectors/shm_channel.hpp), not as copies; the sender may have `capacity` packets
// in flight. The stream ends when the sender says it ended; a sender that goes away without
// saying so (its process died, its run was abandoned) fails the stage, so that a stream cut
// short is never taken for a complete one. The graph partitioner places one for every edge into
// a node from a node on the same host; by hand:
//
//   [stages.from_decoder]
//   type = "shm_source"
//   path = "/run/user/1000/loom-decoder.sock"
//   capacity = 16
//   on_error = "fail"         # a broken channel ends the run instead of restarting the stage
#include <chrono>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>

#include <fmt/format.h>

#include "connectors/shm_channel.hpp"
#include "stages/registry.hpp"

namespace loom {
namespace {

using namespace std::chrono_literals;

// The longest one call waits: a stop request or an abandoned run is seen within this.
constexpr auto poll_slice = 50ms;

class shm_source final : public stage {
 public:
  void open(stage_context& ctx) override {
    path_ = ctx.params().string("path");
    options_.credits = static_cast<std::uint32_t>(ctx.params().integer("capacity"));
    try {
      listener_ = std::make_unique<shm_listener>(path_);
    } catch (const shm_channel_error& e) {
      // The channel's message names the path and why (another listener, a bad directory).
      throw std::runtime_error(
          fmt::format("{} (give each edge a path of its own)", e.what()));
    }
    for (const char* name : {"packets", "received_bytes"}) ctx.count(name, 0, 0);
  }

  void process(stage_context& ctx) override {
    if (!receiver_) {
      accept(ctx);
      return;
    }
    std::size_t emitted = 0;
    try {
      // After the first packet, only what is already there: a batch per call, bounded by the
      // credits the sender can have used.
      for (auto wait = poll_slice; emitted < options_.credits; wait = 0ms) {
        auto p = receiver_->receive_for(wait);
        if (!p) break;
        ++emitted;
        ctx.count("packets", 0);
        for (const auto& [name, t] : p->tensors) ctx.count("received_bytes", 0, t.nbytes());
        ctx.emit("out", make_shared_packet(std::move(*p)));
      }
    } catch (const shm_channel_error& e) {
      throw std::runtime_error(fmt::format(
          "shm_source on {}: the channel broke before the end of the stream: {}", path_,
          e.what()));
    }
    if (emitted > 0) return;
    if (receiver_->closed() || ctx.stop_requested() || ctx.abandoned()) {
      ctx.finish();
      return;
    }
    ctx.retry_after(0us);
  }

  void close(stage_context&) override {
    receiver_.reset();
    listener_.reset();
  }

 private:
  void accept(stage_context& ctx) {
    if (auto peer = listener_->accept(poll_slice)) {
      receiver_ = std::make_unique<shm_receiver>(std::move(*peer), options_);
      // One sender per edge: nobody else may connect to this path any more.
      listener_.reset();
      ctx.retry_after(0us);
      return;
    }
    if (ctx.stop_requested() || ctx.abandoned()) {
      ctx.finish();
      return;
    }
    ctx.retry_after(0us);
  }

  std::string path_;
  shm_channel_options options_;
  std::unique_ptr<shm_listener> listener_;
  std::unique_ptr<shm_receiver> receiver_;
};

}  // namespace

stage_spec shm_source_spec() {
  stage_spec spec;
  spec.type = "shm_source";
  spec.summary = "Receives packets from another loom process on this host over shared memory";
  spec.doc = R"(Listens on the unix socket file `path` (it creates it, refuses a path another
process listens on, and removes it when it closes), accepts one sender — a shm_sink in another
process on this host — and emits its packets on `out`, in order. Large tensors arrive as
read-only views of the sender's memory, not copies (docs/connectors.md). The sender may have
`capacity` packets in flight. The stream ends when the sender says it ended; a sender that goes
away without saying so (its process died) and a broken channel fail the stage, naming the path:
give it `on_error = "fail"`. A stop request ends it
while it waits for its sender. Counters: packets, received_bytes.

    [stages.from_decoder]
    type = "shm_source"
    path = "/run/user/1000/loom-decoder.sock"
    capacity = 16
    on_error = "fail")";
  spec.outputs = {
      {"out", "the packets as they were sent; large tensors are read-only shared views", {}}};
  spec.params = {
      string_param("path", std::nullopt, "the unix socket file to listen on"),
      integer_param("capacity", 16, "credits granted to the sender: packets it may have in flight",
                    1, 65536),
  };
  spec.device_kinds = {"cpu"};
  spec.blocking = true;
  spec.make = [] { return std::make_unique<shm_source>(); };
  return spec;
}

}  // namespace loom
