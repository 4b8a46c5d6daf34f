// video_source: decodes a video stream with FFmpeg and emits its frames as RGB tensors.
//
//   [stages.camera]
//   type = "video_source"
//   uri = "rtsp://10.0.0.7/stream1"   # anything FFmpeg opens: file, http, rtsp, udp, pipe:0
//   width = 640                       # 0: the stream's own size
//   height = 360
//   dtype = "f32"                     # "u8" (0..255) or "f32" (normalised to [0, 1])
//   fps = 5                           # sample 5 frames per second of media time; 0: every frame
//   clip = 8                          # 8 frames per packet, [8, H, W, 3], for video encoders
//   live = true                       # pace to real time, skip frames when behind
//
//   [stages.encoder]
//   inputs.in = { from = "camera.out", policy = "drop_oldest", capacity = 2 }
//
// A relative file path in `uri` is found against the directory of the graph file (input_path.hpp),
// so a graph and its videos move together; absolute paths, URLs (anything with "://") and
// "pipe:N" are used as written.
//
// One packet per frame holds the tensor "image" [H, W, 3]; with `clip = N` (N > 1) one packet per
// N frames holds "frames" [N, H, W, 3] (the last clip of a stream may be shorter). Sequence
// numbers run from 0. `timestamp_us` is the frame's presentation time in microseconds, as the
// stream stamps it (for a clip, its first frame's); metadata "time_base" is the stream's time
// base as "num/den", "uri" the source as resolved, "pts" the frame's pts in that time base, and,
// for clips, "frame_timestamps_us" lists every frame's time.
//
// `fps` keeps the first frame of every 1/fps interval of media time, counted from the first
// frame: frame k is kept when floor((pts_k - pts_0) * fps) has not been seen yet.
//
// Decoding uses the codec's own threads and the colour conversion libswscale's slice threads
// (`threads` of each, 0: as many as FFmpeg picks, like `ffmpeg -threads N -filter_threads N`).
// Frames are converted by libswscale straight into the memory of the tensor that leaves the stage
// (u8), or into one reused scratch image that is scaled by 1/255 into the tensor (f32): nothing
// else copies a frame. That memory comes from a small pool of recycled blocks (frame_pool.hpp): a
// block goes back to it when the last consumer drops the frame, which saves the page faults of
// fresh memory.
//
// Live streams (`live = true`): frames are paced to their presentation times relative to the first
// frame, with `retry_after`, never by sleeping. The source never reads ahead and never queues
// frames, so a slow pipeline cannot make it grow memory: while the next stage is busy the source
// is not called; when it is called again, every decoded frame already more than `max_lag_ms`
// behind real time is skipped without conversion. Skipped frames are counted in the stage's
// `dropped` stat and on the next packet emitted (metadata "skipped_before", and the running total
// "skipped_total"). Read a live source
// through an edge with `policy = "drop_oldest"` so that its own sends never wait either; those
// drops are counted by the runtime as edge drops.
//
// Network streams (http, https, rtsp, rtmp, udp, tcp, srt, rtp) with `live = true` and
// `reconnect = true`: when a read fails, the source reports the drop as an error (counted in the
// stage's "errors" stat, logged with its position) and reopens the stream with exponential backoff
// (0.1 s doubling to 5 s) for at most `reconnect_max_s`; the first packet after the gap carries
// metadata "gap_us" (wall-clock time without frames) and "reconnects", and the reconnect is
// logged with the gap. Timestamps after a
// reconnect continue from where they stopped, plus the gap.
//
// Errors: a missing file, a stream FFmpeg cannot open or an unsupported codec fail `open`, so the
// run stops before data moves with "stage 'NAME' (video_source) failed to open: ...". A decode
// error, a read error or a file that ends before its declared duration (truncated) is raised once
// as an error naming the uri and the position (frame index, time, byte offset); frames decoded
// before it have already been emitted, and the stage then ends its stream (decode errors: goes on
// with the next packet, as codecs resync). A source never raises errors on two calls in a row, so
// the runtime's restart policy never reopens it and replays frames.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <optional>
#include <stdexcept>
#include <string>

#include <fmt/format.h>

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/avutil.h>
#include <libavutil/mathematics.h>
}

#include "stages/media/ffmpeg_error.hpp"
#include "stages/media/frame_converter.hpp"
#include "stages/media/frame_pool.hpp"
#include "stages/media/video_input.hpp"
#include "stages/input_path.hpp"
#include "stages/registry.hpp"

namespace loom {
namespace {

using clock_type = std::chrono::steady_clock;
using media::av_error_text;
using media::is_network;
using media::video_input;

struct frame_deleter {
  void operator()(AVFrame* f) const { av_frame_free(&f); }
};
using frame_ptr = std::unique_ptr<AVFrame, frame_deleter>;

class video_source final : public stage {
 public:
  void open(stage_context& ctx) override {
    const auto& p = ctx.params();
    uri_ = input_path(p.string("uri"), ctx.run());
    type_ = *parse_dtype(p.string("dtype"));
    threads_ = static_cast<int>(p.integer("threads"));
    clip_ = p.integer("clip");
    live_ = p.boolean("live");
    reconnect_ = live_ && p.boolean("reconnect") && is_network(uri_);
    reconnect_max_ = std::chrono::duration<double>(p.number("reconnect_max_s"));
    timeout_s_ = p.number("timeout_s");
    max_lag_ = std::chrono::microseconds(p.integer("max_lag_ms") * 1000);
    max_frames_ = static_cast<std::uint64_t>(p.integer("max_frames"));
    stream_id_ = static_cast<std::uint64_t>(p.integer("stream_id"));
    if (double fps = p.number("fps"); fps > 0) fps_ = av_d2q(fps, 1 << 20);
    converter_.emplace(static_cast<int>(p.integer("width")), static_cast<int>(p.integer("height")),
                       type_, threads_);
    frame_.reset(av_frame_alloc());
    if (!frame_) throw std::bad_alloc();
    input_ = std::make_unique<video_input>(uri_, threads_, timeout_s_);
    time_base_ = input_->time_base();
  }

  void process(stage_context& ctx) override {
    bool threw_last_call = std::exchange(threw_, false);
    if (!pending_error_.empty() && !threw_last_call) raise(std::exchange(pending_error_, {}));
    if (ctx.stop_requested() || ending_) return end(ctx);
    if (!input_ && !try_reconnect(ctx)) return;
    for (;;) {
      if (!holding_) {
        int error = 0;
        auto got = input_->next(frame_.get(), error);
        if (got == video_input::result::end) return on_end(ctx, threw_last_call);
        if (got == video_input::result::read_error) {
          if (reconnect_) return on_drop(ctx, error, threw_last_call);
          ending_ = true;
          return report(fmt::format("read error {}: {}", position(), av_error_text(error)),
                        threw_last_call);
        }
        if (got == video_input::result::decode_error) {
          // Codecs resync on the next key frame: report and go on.
          return report(fmt::format("decode error {}: {}", position(), av_error_text(error)),
                        threw_last_call);
        }
        if (!accept_frame()) continue;
        holding_ = true;
      }
      if (live_) {
        auto now = clock_type::now();
        auto due = wall_start_ + std::chrono::microseconds(frame_us_ - live_origin_us_);
        if (now < due)
          return ctx.retry_after(std::chrono::duration_cast<std::chrono::microseconds>(due - now));
        if (now - due > max_lag_ && emitted_frames_ > 0) {
          ++skipped_pending_;
          ++skipped_total_;
          ctx.count_dropped();
          holding_ = false;
          av_frame_unref(frame_.get());
          continue;
        }
      }
      holding_ = false;
      if (add_to_clip(ctx)) return;
    }
  }

 private:
  // Timestamps, fps sampling and the live clock for a freshly decoded frame; false: not kept.
  bool accept_frame() {
    auto* f = frame_.get();
    std::int64_t pts = f->best_effort_timestamp;
    if (pts == AV_NOPTS_VALUE) pts = f->pts;
    if (pts == AV_NOPTS_VALUE) {
      auto rate = input_->frame_rate();
      pts = rate.num > 0
                ? av_rescale_q(static_cast<std::int64_t>(decoded_), av_inv_q(rate), time_base_)
                : last_pts_ + 1;
    }
    ++decoded_;
    last_pts_ = pts;
    std::int64_t pts_us = av_rescale_q(pts, time_base_, AV_TIME_BASE_Q);
    last_end_us_ = pts_us + std::max<std::int64_t>(
                                0, av_rescale_q(f->pkt_duration, time_base_, AV_TIME_BASE_Q));
    if (!first_pts_) first_pts_ = pts;
    if (fps_.num > 0) {
      auto slot =
          av_rescale_rnd(pts - *first_pts_, static_cast<std::int64_t>(time_base_.num) * fps_.num,
                         static_cast<std::int64_t>(time_base_.den) * fps_.den, AV_ROUND_DOWN);
      if (slot < next_slot_) {
        av_frame_unref(f);
        return false;
      }
      next_slot_ = slot + 1;
    }
    if (pending_offset_) {
      pending_offset_ = false;
      timestamp_offset_us_ = rebase_after_us_ - pts_us;
    }
    frame_pts_ = pts;
    frame_us_ = pts_us + timestamp_offset_us_;
    if (!live_started_) {
      live_started_ = true;
      wall_start_ = clock_type::now();
      live_origin_us_ = frame_us_;
    }
    return true;
  }

  // Converts the held frame into the clip being filled; true when a packet was emitted.
  bool add_to_clip(stage_context& ctx) {
    auto* f = frame_.get();
    int w = converter_->out_width(*f), h = converter_->out_height(*f);
    bool emitted = false;
    if (clip_filled_ > 0 && (w != clip_w_ || h != clip_h_)) {
      emit_clip(ctx);
      emitted = true;
    }
    if (clip_filled_ == 0) {
      clip_w_ = w;
      clip_h_ = h;
      clip_memory_ = pool_->take(converter_->out_bytes(*f) * static_cast<std::size_t>(clip_));
      clip_times_.clear();
      clip_first_pts_ = frame_pts_;
    }
    converter_->convert(*f, clip_memory_.data() + converter_->out_bytes(*f) * clip_filled_);
    av_frame_unref(f);
    clip_times_.push_back(frame_us_);
    ++clip_filled_;
    ++emitted_frames_;
    bool full = clip_filled_ == clip_;
    bool last = max_frames_ > 0 && emitted_frames_ >= max_frames_;
    if (full || last) {
      emit_clip(ctx);
      emitted = true;
    }
    if (last) ending_ = true;
    return emitted;
  }

  void emit_clip(stage_context& ctx) {
    packet p;
    p.stream_id = stream_id_;
    p.sequence = sequence_++;
    p.created_ns = steady_now_ns();
    p.timestamp_us = clip_times_.front();
    std::size_t frame_bytes = static_cast<std::size_t>(clip_w_) * clip_h_ * 3 * size_of(type_);
    auto memory = clip_memory_.share(0, frame_bytes * clip_filled_);
    if (clip_ > 1) {
      p.tensors.push_back(
          {"frames", tensor(type_, {clip_filled_, clip_h_, clip_w_, 3}, std::move(memory))});
      std::string times;
      for (auto t : clip_times_) times += (times.empty() ? "" : ",") + std::to_string(t);
      p.metadata.emplace_back("frame_timestamps_us", std::move(times));
    } else {
      p.tensors.push_back({"image", tensor(type_, {clip_h_, clip_w_, 3}, std::move(memory))});
    }
    p.metadata.emplace_back("uri", uri_);
    p.metadata.emplace_back("time_base", fmt::format("{}/{}", time_base_.num, time_base_.den));
    p.metadata.emplace_back("pts", std::to_string(clip_first_pts_));
    if (skipped_pending_ > 0) {
      p.metadata.emplace_back("skipped_before", std::to_string(std::exchange(skipped_pending_, 0)));
      p.metadata.emplace_back("skipped_total", std::to_string(skipped_total_));
    }
    if (gap_us_) {
      p.metadata.emplace_back("gap_us", std::to_string(*gap_us_));
      p.metadata.emplace_back("reconnects", std::to_string(reconnects_));
      gap_us_.reset();
    }
    clip_filled_ = 0;
    clip_memory_ = {};
    ctx.emit("out", std::move(p));
  }

  std::string position() const {
    auto offset = input_ ? input_->byte_offset() : -1;
    return fmt::format("in '{}' after frame {} (pts {} µs{})", uri_, decoded_,
                       decoded_ > 0 ? av_rescale_q(last_pts_, time_base_, AV_TIME_BASE_Q) : 0,
                       offset >= 0 ? fmt::format(", byte {}", offset) : "");
  }

  // Raises `what` now, or on the next call if this call follows one that raised, so that the
  // runtime never sees two failures in a row (it would restart the source and replay frames).
  void report(std::string what, bool threw_last_call) {
    if (threw_last_call) {
      if (pending_error_.empty()) pending_error_ = std::move(what);
      return;
    }
    raise(std::move(what));
  }

  [[noreturn]] void raise(std::string what) {
    threw_ = true;
    throw std::runtime_error(std::move(what));
  }

  void on_end(stage_context& ctx, bool threw_last_call) {
    ending_ = true;
    // Matroska and others end a truncated file quietly: compare with the declared duration.
    if (auto declared = input_->declared_end_us(); declared && decoded_ > 0 && input_->seekable()) {
      auto frame_us = input_->frame_rate().num > 0
                          ? av_rescale_q(1, av_inv_q(input_->frame_rate()), AV_TIME_BASE_Q)
                          : 0;
      auto tolerance = std::max<std::int64_t>(3 * frame_us, 100'000);
      if (last_end_us_ + tolerance < *declared)
        return report(
            fmt::format("stream ended early {}: the file declares {:.3f} s (truncated or corrupt)",
                        position(), static_cast<double>(*declared) / 1e6),
            threw_last_call);
    }
    if (clip_filled_ > 0) return emit_clip(ctx);
    end(ctx);
  }

  void end(stage_context& ctx) {
    if (clip_filled_ > 0) return emit_clip(ctx);
    if (!pending_error_.empty()) return;  // raised on the next call, then the stream ends
    ctx.finish();
  }

  void on_drop(stage_context&, int error, bool threw_last_call) {
    auto where = position();
    input_.reset();
    holding_ = false;
    dropped_at_ = clock_type::now();
    next_attempt_ = dropped_at_;
    backoff_ = std::chrono::milliseconds(100);
    last_emitted_end_us_ = last_end_us_ + timestamp_offset_us_;
    report(fmt::format("stream dropped {}: {}; reconnecting for up to {} s", where,
                       av_error_text(error), reconnect_max_.count()),
           threw_last_call);
  }

  // Reopens a dropped network stream when its backoff has passed; true when it is open again.
  bool try_reconnect(stage_context& ctx) {
    auto now = clock_type::now();
    if (now < next_attempt_) {
      ctx.retry_after(std::chrono::duration_cast<std::chrono::microseconds>(next_attempt_ - now));
      return false;
    }
    try {
      input_ = std::make_unique<video_input>(uri_, threads_, timeout_s_);
    } catch (const std::exception& e) {
      now = clock_type::now();
      if (now - dropped_at_ >= reconnect_max_) {
        ending_ = true;
        raise(fmt::format("'{}': gave up reconnecting after {:.1f} s: {}", uri_,
                          std::chrono::duration<double>(now - dropped_at_).count(), e.what()));
      }
      next_attempt_ = now + backoff_;
      backoff_ = std::min<std::chrono::milliseconds>(backoff_ * 2, std::chrono::seconds(5));
      ctx.retry_after(std::chrono::duration_cast<std::chrono::microseconds>(next_attempt_ - now));
      return false;
    }
    auto gap =
        std::chrono::duration_cast<std::chrono::microseconds>(clock_type::now() - dropped_at_);
    gap_us_ = gap.count();
    ++reconnects_;
    ctx.log(fmt::format("'{}' reconnected after {:.1f} s without frames (reconnect {})", uri_,
                        static_cast<double>(gap.count()) / 1e6, reconnects_));
    time_base_ = input_->time_base();
    // The new stream's clock starts afresh: continue after the last frame, plus the gap.
    first_pts_.reset();
    next_slot_ = 0;
    live_started_ = false;
    pending_offset_ = true;
    timestamp_offset_us_ = 0;
    rebase_after_us_ = last_emitted_end_us_ + gap.count();
    return true;
  }

  std::string uri_;
  dtype type_ = dtype::u8;
  int threads_ = 0;
  std::int64_t clip_ = 1;
  bool live_ = false, reconnect_ = false;
  std::chrono::duration<double> reconnect_max_{30};
  double timeout_s_ = 10;
  std::chrono::microseconds max_lag_{200'000};
  std::uint64_t max_frames_ = 0, stream_id_ = 0;
  AVRational fps_{0, 1};

  std::optional<media::frame_converter> converter_;
  std::shared_ptr<media::frame_pool> pool_ = media::frame_pool::create();
  std::unique_ptr<video_input> input_;
  frame_ptr frame_;
  AVRational time_base_{1, 1};

  // Position in the stream.
  std::uint64_t decoded_ = 0, emitted_frames_ = 0, sequence_ = 0;
  std::int64_t last_pts_ = 0, last_end_us_ = 0;
  std::optional<std::int64_t> first_pts_;
  std::int64_t next_slot_ = 0;
  bool holding_ = false;
  std::int64_t frame_pts_ = 0, frame_us_ = 0;

  // The clip being filled.
  buffer clip_memory_;
  std::int64_t clip_filled_ = 0;
  int clip_w_ = 0, clip_h_ = 0;
  std::int64_t clip_first_pts_ = 0;
  std::vector<std::int64_t> clip_times_;

  // Live pacing and drops.
  bool live_started_ = false;
  clock_type::time_point wall_start_;
  std::int64_t live_origin_us_ = 0;
  std::uint64_t skipped_pending_ = 0, skipped_total_ = 0;

  // Reconnection.
  clock_type::time_point dropped_at_, next_attempt_;
  std::chrono::milliseconds backoff_{100};
  std::optional<std::int64_t> gap_us_;
  std::uint64_t reconnects_ = 0;
  std::int64_t timestamp_offset_us_ = 0, last_emitted_end_us_ = 0, rebase_after_us_ = 0;
  bool pending_offset_ = false;

  // Errors.
  bool threw_ = false, ending_ = false;
  std::string pending_error_;
};

}  // namespace

stage_spec video_source_spec() {
  stage_spec spec;
  spec.type = "video_source";
  spec.summary = "Decodes a video file or stream (FFmpeg) into RGB frames or clips";
  spec.doc = R"(Decodes the best video stream of `uri` (a file, http, rtsp, udp, pipe:0, anything
FFmpeg opens; a relative file path is found against the graph file's directory) with the
codec's threads and converts every frame to RGB at `width` x `height` with libswscale, straight
into the outgoing tensor: "image" [H, W, 3], or with `clip = N`,
"frames" [N, H, W, 3]. `dtype = "f32"` normalises to [0, 1]. Packets carry the frame's
presentation time in µs (timestamp_us) and metadata "time_base", "pts" and "uri".

`fps` samples frames by media time. `live = true` paces to real time, skips frames more than
`max_lag_ms` late (counted in `dropped` and in metadata "skipped_before"/"skipped_total") and reconnects dropped
network streams with backoff (metadata "gap_us", "reconnects"; the drop is a counted error).
A missing file or unsupported codec fails the run at start-up; a corrupt or truncated stream is
one counted error naming the position, after which the frames decoded so far have flowed and the
stream ends.

    [stages.video]
    type = "video_source"
    uri = "clip.mp4"
    width = 224
    height = 224
    dtype = "f32"
    fps = 2
    clip = 8

    [stages.camera]
    type = "video_source"
    uri = "rtsp://10.0.0.7/stream1"
    live = true
    # read it through a dropping edge: inputs.in = { from = "camera.out", policy = "drop_oldest" })";
  spec.outputs = {
      {"out", "\"image\" [H, W, 3] per frame, or \"frames\" [N, H, W, 3] per clip", {}}};
  spec.params = {
      string_param("uri", std::nullopt, "what to open: a path or a URL FFmpeg understands"),
      integer_param("width", 0, "output width in pixels; 0: the stream's", 0, 16384),
      integer_param("height", 0, "output height in pixels; 0: the stream's", 0, 16384),
      string_param("dtype", "u8", "u8: 0..255; f32: normalised to [0, 1]", {"u8", "f32"}),
      number_param("fps", 0.0, "frames per second of media time to keep; 0: every frame", 0, 1000),
      integer_param("clip", 1, "frames per packet; above 1 the tensor is \"frames\" [N, H, W, 3]",
                    1, 1024),
      integer_param("threads", 0, "decoder and colour-conversion threads; 0: FFmpeg's choice", 0,
                    64),
      boolean_param("live", false, "pace to real time and skip frames that are late"),
      integer_param("max_lag_ms", 200, "live: frames later than this behind real time are skipped",
                    0),
      boolean_param("reconnect", true, "live network streams: reopen after a drop, with backoff"),
      number_param("reconnect_max_s", 30.0, "give up reconnecting after this long without a stream",
                   0),
      number_param("timeout_s", 10.0, "network streams: a read that waits longer fails", 0),
      integer_param("max_frames", 0, "stop after this many frames; 0: the whole stream", 0),
      integer_param("stream_id", 0, "stream id stamped on every packet", 0),
  };
  spec.make = [] { return std::make_unique<video_source>(); };
  spec.infer = [](const param_values& p, const std::vector<port_type>&) {
    return std::vector<port_type>{{parse_dtype(p.string("dtype")), p.integer("clip") > 1 ? 4 : 3}};
  };
  return spec;
}

}  // namespace loom
