#include "stages/media/video_input.hpp"

#include <stdexcept>

#include <fmt/format.h>

#include "stages/media/ffmpeg_error.hpp"

namespace loom::media {

bool is_network(const std::string& uri) {
  auto colon = uri.find("://");
  if (colon == std::string::npos) return false;
  auto scheme = uri.substr(0, colon);
  for (const char* s : {"http", "https", "rtsp", "rtsps", "rtmp", "udp", "tcp", "srt", "rtp"})
    if (scheme == s) return true;
  return false;
}

video_input::video_input(const std::string& uri, int threads, double timeout_s) {
  try {
    open(uri, threads, timeout_s);
  } catch (...) {
    release();
    throw;
  }
}

void video_input::release() {
  av_packet_free(&packet_);
  avcodec_free_context(&decoder_);
  avformat_close_input(&format_);
}

void video_input::open(const std::string& uri, int threads, double timeout_s) {
  AVDictionary* options = nullptr;
  if (is_network(uri) && timeout_s > 0) {
    auto us = std::to_string(static_cast<std::int64_t>(timeout_s * 1e6));
    av_dict_set(&options, "rw_timeout", us.c_str(), 0);
    if (uri.rfind("rtsp", 0) == 0) av_dict_set(&options, "timeout", us.c_str(), 0);
  }
  int err = avformat_open_input(&format_, uri.c_str(), nullptr, &options);
  av_dict_free(&options);
  if (err < 0)
    throw std::runtime_error(fmt::format("cannot open '{}': {}", uri, av_error_text(err)));
  if ((err = avformat_find_stream_info(format_, nullptr)) < 0)
    throw std::runtime_error(
        fmt::format("cannot read stream info of '{}': {}", uri, av_error_text(err)));
  const AVCodec* codec = nullptr;
  stream_ = av_find_best_stream(format_, AVMEDIA_TYPE_VIDEO, -1, -1, &codec, 0);
  if (stream_ == AVERROR_STREAM_NOT_FOUND)
    throw std::runtime_error(fmt::format("'{}' has no video stream", uri));
  auto* par = format_->streams[stream_]->codecpar;
  if (stream_ < 0 || !codec)
    throw std::runtime_error(
        fmt::format("'{}': unsupported video codec '{}'", uri, avcodec_get_name(par->codec_id)));
  decoder_ = avcodec_alloc_context3(codec);
  if (!decoder_) throw std::bad_alloc();
  if ((err = avcodec_parameters_to_context(decoder_, par)) < 0)
    throw std::runtime_error(fmt::format("'{}': {}", uri, av_error_text(err)));
  decoder_->thread_count = threads;
  decoder_->thread_type = FF_THREAD_FRAME | FF_THREAD_SLICE;
  decoder_->pkt_timebase = format_->streams[stream_]->time_base;
  if ((err = avcodec_open2(decoder_, codec, nullptr)) < 0)
    throw std::runtime_error(
        fmt::format("'{}': cannot open the {} decoder: {}", uri, codec->name, av_error_text(err)));
  for (unsigned i = 0; i < format_->nb_streams; ++i)
    if (static_cast<int>(i) != stream_) format_->streams[i]->discard = AVDISCARD_ALL;
  packet_ = av_packet_alloc();
  if (!packet_) throw std::bad_alloc();
}

video_input::result video_input::next(AVFrame* frame, int& error) {
  for (;;) {
    error = avcodec_receive_frame(decoder_, frame);
    if (error >= 0) return result::frame;
    if (error == AVERROR_EOF) return result::end;
    if (error != AVERROR(EAGAIN)) return result::decode_error;
    if (draining_) return result::end;
    error = av_read_frame(format_, packet_);
    if (error == AVERROR_EOF ||
        (error < 0 && format_->pb && avio_feof(format_->pb) && !format_->pb->error)) {
      draining_ = true;
      avcodec_send_packet(decoder_, nullptr);
      continue;
    }
    if (error < 0) return result::read_error;
    if (packet_->stream_index != stream_) {
      av_packet_unref(packet_);
      continue;
    }
    error = avcodec_send_packet(decoder_, packet_);
    av_packet_unref(packet_);
    if (error < 0 && error != AVERROR(EAGAIN)) return result::decode_error;
  }
}

}  // namespace loom::media
