// One opened video stream: FFmpeg's demuxer and decoder for the best video stream of a uri
// (a file, an image, a network stream), handing out decoded frames one at a time.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
}

namespace loom::media {

// True for the URL schemes of network streams (http, rtsp, udp, ...), which can drop.
bool is_network(const std::string& uri);

// One opened stream: demuxer and decoder.
class video_input {
 public:
  // Opens `uri` and its decoder with `threads` threads (0: FFmpeg's choice); network reads that
  // wait longer than `timeout_s` fail. Throws std::runtime_error naming the uri.
  video_input(const std::string& uri, int threads, double timeout_s);
  ~video_input() { release(); }
  video_input(const video_input&) = delete;
  video_input& operator=(const video_input&) = delete;

  AVRational time_base() const { return format_->streams[stream_]->time_base; }
  AVRational frame_rate() const { return format_->streams[stream_]->avg_frame_rate; }
  std::int64_t byte_offset() const { return format_->pb ? avio_tell(format_->pb) : -1; }
  // The end of the stream as its header declares it, in µs; none when unknown.
  std::optional<std::int64_t> declared_end_us() const {
    if (format_->duration == AV_NOPTS_VALUE || format_->duration <= 0) return std::nullopt;
    auto start = format_->start_time == AV_NOPTS_VALUE ? 0 : format_->start_time;
    return start + format_->duration;
  }
  bool seekable() const { return format_->pb && (format_->pb->seekable & AVIO_SEEKABLE_NORMAL); }

  enum class result { frame, end, read_error, decode_error };

  // The next decoded frame into `frame`; on an error, `error` holds FFmpeg's code.
  result next(AVFrame* frame, int& error);

 private:
  void open(const std::string& uri, int threads, double timeout_s);
  void release();

  AVFormatContext* format_ = nullptr;
  AVCodecContext* decoder_ = nullptr;
  AVPacket* packet_ = nullptr;
  int stream_ = -1;
  bool draining_ = false;
};

}  // namespace loom::media
