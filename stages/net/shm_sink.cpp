// shm_sink: the sending end of a graph edge between two processes on one host. It connects to
// the unix socket file of a shm_source in the other process and sends each packet under the
// credit that source granted. Large tensors in shareable memory (devices/buffer.hpp: host
// buffers from 256 KiB up) are not copied: the receiver maps the segment and reads them in
// place (connectors/shm_channel.hpp); small ones are copied. Without credit the stage waits, so
// the edge into it blocks or drops by its policy and memory never grows. When its input ends it
// says that the stream ended; a channel closed without that (an abandoned run, a dead process)
// fails the source. By hand:
//
//   [stages.to_encoder]
//   type = "shm_sink"
//   path = "/run/user/1000/loom-decoder.sock"
//   connect_timeout_ms = 10000
//   on_error = "fail"
//   inputs.in = { from = "decoder.out", capacity = 8 }
//
// Waits last 50 ms at a time, so that a run being abandoned is seen within that.
#include <chrono>
#include <memory>
#include <stdexcept>
#include <thread>

#include <fmt/format.h>

#include "connectors/shm_channel.hpp"
#include "devices/device.hpp"
#include "stages/registry.hpp"

namespace loom {
namespace {

using namespace std::chrono_literals;

// The longest one wait lasts before the run's abandonment is looked at again.
constexpr auto wait_slice = 50ms;

class shm_sink final : public stage {
 public:
  // Connects here rather than at the first packet, so that an empty stream still reaches the
  // source as one.
  void open(stage_context& ctx) override {
    path_ = ctx.params().string("path");
    const auto timeout = std::chrono::milliseconds(ctx.params().integer("connect_timeout_ms"));
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      try {
        sender_ = std::make_unique<shm_sender>(shm_socket::connect(path_));
        break;
      } catch (const shm_channel_error& e) {
        if (std::chrono::steady_clock::now() >= deadline)
          throw std::runtime_error(fmt::format(
              "shm_sink found no shm_source listening on {} within {} ms: {} (start the "
              "receiving process first, or raise connect_timeout_ms)",
              path_, timeout.count(), e.what()));
      }
      if (ctx.abandoned())
        throw std::runtime_error(
            fmt::format("run abandoned while connecting to the shm_source on {}", path_));
      std::this_thread::sleep_for(wait_slice);
    }
    update_counters(ctx);
  }

  void process(stage_context& ctx) override {
    const auto& p = ctx.input("in");
    for (const auto& [name, t] : p.tensors)
      if (t.device() != host_memory_space)
        throw std::invalid_argument(fmt::format(
            "tensor '{}' is in memory space '{}', shared memory carries host memory; place "
            "this shm_sink on a cpu device (the runtime then moves its inputs to the host)",
            name, t.device()));
    try {
      while (!sender_->send_for(p, wait_slice)) {
        if (ctx.abandoned())
          throw std::runtime_error(fmt::format(
              "run abandoned while waiting for credit from {} (packet {} not sent)", path_,
              p.sequence));
      }
    } catch (const shm_channel_error& e) {
      throw std::runtime_error(fmt::format(
          "shm_sink to {}: the shm_source is gone (packet {} not sent): {}", path_, p.sequence,
          e.what()));
    }
    update_counters(ctx);
  }

  // The stream ends only when it is said to: an abandoned run closes the channel without it, and
  // the source fails instead of taking the stream for complete.
  void close(stage_context& ctx) override {
    if (!sender_) return;
    try {
      while (!ctx.abandoned() && !sender_->finish_for(wait_slice)) {
      }
    } catch (const shm_channel_error& e) {
      throw std::runtime_error(fmt::format(
          "shm_sink to {}: cannot end the stream, the shm_source is gone: {}", path_, e.what()));
    }
    update_counters(ctx);
    sender_.reset();
  }

 private:
  // stage_context::count adds, so only what grew since the last call is added.
  void update_counters(stage_context& ctx) {
    const auto now = sender_->stats();
    ctx.count("packets", 0, now.packets - last_.packets);
    ctx.count("shared_bytes", 0, now.shared_bytes - last_.shared_bytes);
    ctx.count("copied_bytes", 0, now.copied_bytes - last_.copied_bytes);
    last_ = now;
  }

  std::string path_;
  std::unique_ptr<shm_sender> sender_;
  shm_sender_stats last_;
};

}  // namespace

stage_spec shm_sink_spec() {
  stage_spec spec;
  spec.type = "shm_sink";
  spec.summary = "Sends packets to another loom process on this host over shared memory";
  spec.doc = R"(Connects to the unix socket file `path` of a shm_source in another process on
this host (retrying for up to `connect_timeout_ms` while nobody listens there) and sends each
packet under the credit the source granted. Large tensors in shareable host memory are passed
by reference to their segment, not copied (docs/connectors.md). Without credit it waits: the
edge into it blocks or drops by its policy. When its input ends it tells the source that the
stream ended; closed without that (an abandoned run, a process that died), the channel fails the
source, so that a stream cut short is never taken for a complete one. A source that went away
fails the stage, naming the path. Counters: packets, shared_bytes, copied_bytes.

    [stages.to_encoder]
    type = "shm_sink"
    path = "/run/user/1000/loom-decoder.sock"
    on_error = "fail"
    inputs.in = { from = "decoder.out", capacity = 8 })";
  spec.inputs = {{"in", "any packet; tensors in host memory", {}}};
  spec.params = {
      string_param("path", std::nullopt, "the unix socket file the shm_source listens on"),
      integer_param("connect_timeout_ms", 10000,
                    "how long to retry connecting while the source is not listening yet", 0,
                    3600000),
  };
  spec.device_kinds = {"cpu"};
  spec.blocking = true;
  spec.make = [] { return std::make_unique<shm_sink>(); };
  return spec;
}

}  // namespace loom
