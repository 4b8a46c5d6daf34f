// video_sink: encodes a stream of images as H.264 (libx264) in an MP4 file, with the
// provenance of the run in the file's metadata (docs/provenance.md).
//
//   [stages.save]
//   type = "video_sink"
//   tensor = "image"            # [H, W, C] frames or [N, H, W, C] clips; C = 1, 3, 4; even H, W
//   path = "out/generated.mp4"  # folders are created
//   fps = 0                     # 0: frame times from the packets' timestamps
//   crf = 23
//   preset = "medium"
//   inputs.in = "model.out"
//
// With `fps = 0` each frame is shown at its packet's timestamp (relative to the first packet)
// and the stream's nominal rate comes from the first gap between timestamps; the frames of a
// clip are spread evenly until the next packet's timestamp, so one packet is held back until
// the next arrives (the last one takes the last gap; a video of one packet plays at 25 fps).
// Timestamps must increase. With `fps > 0` timestamps are ignored and frames follow each
// other at that rate.
//
// The file is finished (MP4 trailer written) when the stream ends, also when a run is stopped
// with SIGINT and drains. A stream with no frames leaves no file. Frame sizes must not change
// within a stream, and H.264 in 4:2:0 needs an even width and height: such packets fail with
// an error naming the stage and packet, and the file goes on without them. A restart after
// errors (`restart` in the graph) starts the file again.
extern "C" {
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/log.h>
#include <libavutil/opt.h>
#include <libswscale/swscale.h>
}

#include <cmath>
#include <filesystem>
#include <stdexcept>
#include <system_error>

#include <fmt/format.h>

#include "stages/media/image_pixels.hpp"
#include "stages/media/provenance.hpp"
#include "stages/registry.hpp"

namespace loom {
namespace {

constexpr std::int64_t fallback_period_us = 40'000;  // 25 fps, for a video of one packet

std::string av_error(int code) {
  char text[AV_ERROR_MAX_STRING_SIZE] = "";
  av_strerror(code, text, sizeof text);
  return text;
}

void check(int code, std::string_view what) {
  if (code < 0) throw std::runtime_error(fmt::format("{}: {}", what, av_error(code)));
}

AVPixelFormat input_format(std::int64_t channels) {
  return channels == 1 ? AV_PIX_FMT_GRAY8 : channels == 3 ? AV_PIX_FMT_RGB24 : AV_PIX_FMT_RGBA;
}

class video_sink final : public stage {
 public:
  ~video_sink() override {
    // Not closed (the run failed): finish the file anyway, so what was encoded stays playable.
    bool empty = format_ != nullptr && !header_written_;
    if (header_written_ && !trailer_written_) {
      try {
        finish_encoding();
      } catch (const std::exception&) {
      }
    }
    release();
    std::error_code ignored;
    if (empty) std::filesystem::remove(path_, ignored);
  }

  void open(stage_context& ctx) override {
    const auto& p = ctx.params();
    tensor_ = p.string("tensor");
    path_ = p.string("path");
    fps_ = p.number("fps");
    crf_ = p.integer("crf");
    preset_ = p.string("preset");
    // x264 reports every encode at AV_LOG_INFO; FFmpeg's log level is process-wide.
    if (av_log_get_level() > AV_LOG_WARNING) av_log_set_level(AV_LOG_WARNING);
    encoder_ = avcodec_find_encoder_by_name("libx264");
    if (encoder_ == nullptr)
      throw std::runtime_error("this FFmpeg has no libx264 encoder; video_sink needs it");
    std::filesystem::path path(path_);
    if (path.has_parent_path()) std::filesystem::create_directories(path.parent_path());
    // The container follows the file name (.mp4, .mov, .mkv); anything else is MP4.
    if (avformat_alloc_output_context2(&format_, nullptr, nullptr, path_.c_str()) < 0)
      check(avformat_alloc_output_context2(&format_, nullptr, "mp4", path_.c_str()),
            fmt::format("cannot make an MP4 muxer for '{}'", path_));
    check(avio_open(&format_->pb, path_.c_str(), AVIO_FLAG_WRITE),
          fmt::format("cannot open '{}' for writing", path_));
    origin_ = provenance_for(ctx);
  }

  void process(stage_context& ctx) override {
    const auto& in = ctx.input_ptr();
    const auto& image = in->at(tensor_);
    auto layout = pixel_layout_of(image, tensor_);
    check_size(layout);
    // The first packet's seed names the video's (the header is written with the first frame).
    if (const auto* seed = in->meta("seed"); seed != nullptr && !packet_seed_) {
      origin_.seed = *seed;
      packet_seed_ = true;
    }
    if (fps_ > 0) {
      for (std::int64_t f = 0; f < layout.frames; ++f) encode(image, layout, f, next_frame_++);
      return;
    }
    if (pending_) {
      auto gap = in->timestamp_us - pending_->timestamp_us;
      if (gap <= 0)
        throw std::invalid_argument(fmt::format(
            "timestamps must increase with fps = 0: this packet is at {} µs, the one before at {} µs",
            in->timestamp_us, pending_->timestamp_us));
      if (gap < pending_layout_.frames)
        throw std::invalid_argument(fmt::format(
            "the {} frames of the packet before cannot fit in the {} µs until this one",
            pending_layout_.frames, gap));
      period_us_ = gap / pending_layout_.frames;
      encode_pending();
    } else {
      first_timestamp_ = in->timestamp_us;
    }
    pending_ = in;
    pending_layout_ = layout;
  }

  void close(stage_context&) override {
    if (pending_) {
      if (period_us_ == 0) period_us_ = fallback_period_us;
      encode_pending();
    }
    if (header_written_) {
      finish_encoding();
    } else if (format_ != nullptr) {
      release();
      std::filesystem::remove(path_);  // no frames: no file
    }
    release();
  }

 private:
  void check_size(const pixel_layout& l) {
    if (width_ == 0) {
      if (l.width % 2 != 0 || l.height % 2 != 0)
        throw std::invalid_argument(fmt::format(
            "frames are {}x{}; H.264 in 4:2:0 needs an even width and height", l.width, l.height));
      width_ = l.width;
      height_ = l.height;
      return;
    }
    if (l.width != width_ || l.height != height_)
      throw std::invalid_argument(fmt::format(
          "frame size changed from {}x{} to {}x{}; a video keeps one size", width_, height_,
          l.width, l.height));
  }

  void encode_pending() {
    const auto& image = pending_->at(tensor_);
    auto start = pending_->timestamp_us - first_timestamp_;
    for (std::int64_t f = 0; f < pending_layout_.frames; ++f)
      encode(image, pending_layout_, f, start + f * period_us_);
    pending_.reset();
  }

  void open_encoder() {
    codec_ = avcodec_alloc_context3(encoder_);
    if (codec_ == nullptr) throw std::runtime_error("cannot allocate an H.264 encoder");
    codec_->width = static_cast<int>(width_);
    codec_->height = static_cast<int>(height_);
    codec_->pix_fmt = AV_PIX_FMT_YUV420P;
    // What swscale's RGB to YUV conversion produces, so that players convert back the same way.
    codec_->colorspace = AVCOL_SPC_SMPTE170M;
    codec_->color_range = AVCOL_RANGE_MPEG;
    if (fps_ > 0) {
      codec_->framerate = av_d2q(fps_, 1'001'000);
      codec_->time_base = av_inv_q(codec_->framerate);
    } else {
      codec_->framerate = av_d2q(1e6 / static_cast<double>(period_us_), 1'001'000);
      codec_->time_base = {1, 1'000'000};
    }
    if (format_->oformat->flags & AVFMT_GLOBALHEADER) codec_->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
    av_opt_set(codec_->priv_data, "preset", preset_.c_str(), 0);
    av_opt_set(codec_->priv_data, "crf", std::to_string(crf_).c_str(), 0);
    check(avcodec_open2(codec_, encoder_, nullptr), "cannot open the H.264 encoder");

    stream_ = avformat_new_stream(format_, nullptr);
    if (stream_ == nullptr) throw std::runtime_error("cannot add a video stream");
    check(avcodec_parameters_from_context(stream_->codecpar, codec_), "cannot describe the stream");
    stream_->time_base = codec_->time_base;
    stream_->avg_frame_rate = codec_->framerate;

    auto comment = fmt::format("{}by {} (graph '{}', stage '{}')",
                               origin_.ai_generated ? "AI-generated " : "written ",
                               origin_.software(), origin_.graph, origin_.stage);
    av_dict_set(&format_->metadata, "comment", comment.c_str(), 0);
    av_dict_set(&format_->metadata, "creation_time", origin_.created.c_str(), 0);
    for (const auto& [key, value] : origin_.tags())
      av_dict_set(&format_->metadata, key.c_str(), value.c_str(), 0);
    AVDictionary* options = nullptr;
    // Without it the MP4 muxer keeps only the keys it knows (title, comment, ...).
    av_dict_set(&options, "movflags", "use_metadata_tags", 0);
    int written = avformat_write_header(format_, &options);
    av_dict_free(&options);
    check(written, fmt::format("cannot write the header of '{}'", path_));
    header_written_ = true;

    frame_ = av_frame_alloc();
    packet_ = av_packet_alloc();
    if (frame_ == nullptr || packet_ == nullptr) throw std::runtime_error("out of memory");
    frame_->format = AV_PIX_FMT_YUV420P;
    frame_->width = codec_->width;
    frame_->height = codec_->height;
    check(av_frame_get_buffer(frame_, 0), "cannot allocate a frame");
  }

  void encode(const tensor& image, const pixel_layout& layout, std::int64_t frame, std::int64_t pts) {
    if (codec_ == nullptr) open_encoder();
    auto pixels = pixels_of_frame(image, layout, frame);
    scaler_ = sws_getCachedContext(scaler_, static_cast<int>(width_), static_cast<int>(height_),
                                   input_format(layout.channels), codec_->width, codec_->height,
                                   AV_PIX_FMT_YUV420P, SWS_BICUBIC, nullptr, nullptr, nullptr);
    if (scaler_ == nullptr) throw std::runtime_error("cannot convert these pixels to YUV 4:2:0");
    check(av_frame_make_writable(frame_), "cannot write to the frame");
    const std::uint8_t* source[1] = {pixels.data};
    const int source_stride[1] = {static_cast<int>(pixels.row_bytes)};
    sws_scale(scaler_, source, source_stride, 0, codec_->height, frame_->data, frame_->linesize);
    frame_->pts = pts;
    check(avcodec_send_frame(codec_, frame_), "cannot encode the frame");
    drain_packets();
  }

  void drain_packets() {
    while (true) {
      int got = avcodec_receive_packet(codec_, packet_);
      if (got == AVERROR(EAGAIN) || got == AVERROR_EOF) return;
      check(got, "cannot encode the frame");
      av_packet_rescale_ts(packet_, codec_->time_base, stream_->time_base);
      packet_->stream_index = stream_->index;
      check(av_interleaved_write_frame(format_, packet_), fmt::format("cannot write to '{}'", path_));
    }
  }

  void finish_encoding() {
    trailer_written_ = true;
    check(avcodec_send_frame(codec_, nullptr), "cannot flush the encoder");
    drain_packets();
    check(av_write_trailer(format_), fmt::format("cannot finish '{}'", path_));
  }

  void release() {
    sws_freeContext(scaler_);
    scaler_ = nullptr;
    av_frame_free(&frame_);
    av_packet_free(&packet_);
    avcodec_free_context(&codec_);
    if (format_ != nullptr) {
      avio_closep(&format_->pb);
      avformat_free_context(format_);
      format_ = nullptr;
    }
  }

  std::string tensor_, path_, preset_;
  double fps_ = 0;
  std::int64_t crf_ = 23;
  provenance origin_;
  const AVCodec* encoder_ = nullptr;
  AVFormatContext* format_ = nullptr;
  AVCodecContext* codec_ = nullptr;
  AVStream* stream_ = nullptr;
  AVFrame* frame_ = nullptr;
  AVPacket* packet_ = nullptr;
  SwsContext* scaler_ = nullptr;
  bool header_written_ = false, trailer_written_ = false, packet_seed_ = false;
  std::int64_t width_ = 0, height_ = 0;
  std::int64_t next_frame_ = 0;  // with fps > 0
  packet_ptr pending_;           // with fps = 0: waits for the next timestamp
  pixel_layout pending_layout_;
  std::int64_t first_timestamp_ = 0, period_us_ = 0;
};

}  // namespace

stage_spec video_sink_spec() {
  stage_spec spec;
  spec.type = "video_sink";
  spec.summary = "Encodes images as H.264 in an MP4 file with provenance metadata";
  spec.doc = R"(Encodes the image tensor of every packet (a clip [N, H, W, C] as N frames) with
libx264 into an MP4 file, with the provenance of the run in its metadata: comment,
creation_time and loom_generator, loom_version, loom_graph, loom_graph_sha256, loom_stage,
loom_seed, loom_created, loom_ai_generated (see docs/provenance.md). Width and height must be
even and stay the same. The file is finished when the stream ends, also after SIGINT.

    [stages.save]
    type = "video_sink"
    tensor = "image"
    path = "out/generated.mp4"
    fps = 0
    crf = 23
    preset = "medium"
    inputs.in = "model.out"

With fps = 0, frames are timed by the packets' timestamps (which must increase) and a clip's
frames are spread evenly until the next packet; with fps > 0 they follow each other at that rate.)";
  spec.inputs = {{"in", "packets with an image [H, W, C] or clip [N, H, W, C], C = 1, 3 or 4", {}}};
  spec.params = {
      string_param("tensor", "image", "name of the image or clip tensor in each packet"),
      string_param("path", std::nullopt, "the video file; .mp4 (or .mov, .mkv); folders are created"),
      number_param("fps", 0.0, "frames per second; 0: from the packets' timestamps", 0, 1000),
      integer_param("crf", 23, "x264 constant rate factor: 0 lossless, 51 worst", 0, 51),
      string_param("preset", "medium", "x264 speed/size trade-off",
                   {"ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow",
                    "slower", "veryslow"}),
  };
  for (auto& p : provenance_params()) spec.params.push_back(std::move(p));
  spec.make = [] { return std::make_unique<video_sink>(); };
  return spec;
}

}  // namespace loom
