#include "stages/media/frame_converter.hpp"

#include <stdexcept>
#include <string>

extern "C" {
#include <libavutil/buffer.h>
#include <libavutil/frame.h>
#include <libavutil/opt.h>
#include <libavutil/pixdesc.h>
#include <libavutil/pixfmt.h>
#include <libswscale/swscale.h>
}

#include "stages/media/ffmpeg_error.hpp"

namespace loom::media {

frame_converter::frame_converter(int width, int height, dtype type, int threads)
    : width_(width), height_(height), type_(type), threads_(threads) {
  if (type != dtype::u8 && type != dtype::f32)
    throw std::invalid_argument("frame_converter: dtype must be u8 or f32");
  target_ = av_frame_alloc();
  if (!target_) throw std::bad_alloc();
}

frame_converter::~frame_converter() {
  av_frame_free(&target_);
  sws_freeContext(sws_);
}

int frame_converter::out_width(const AVFrame& frame) const {
  return width_ > 0 ? width_ : frame.width;
}
int frame_converter::out_height(const AVFrame& frame) const {
  return height_ > 0 ? height_ : frame.height;
}

std::size_t frame_converter::out_bytes(const AVFrame& frame) const {
  return static_cast<std::size_t>(out_width(frame)) * out_height(frame) * 3 *
         (type_ == dtype::f32 ? 4 : 1);
}

namespace {

// libswscale's coefficients for the frame's YUV matrix; BT.601 when the stream does not say.
int sws_colorspace(AVColorSpace space) {
  switch (space) {
    case AVCOL_SPC_BT709:
      return SWS_CS_ITU709;
    case AVCOL_SPC_FCC:
      return SWS_CS_FCC;
    case AVCOL_SPC_SMPTE240M:
      return SWS_CS_SMPTE240M;
    case AVCOL_SPC_BT2020_NCL:
    case AVCOL_SPC_BT2020_CL:
      return SWS_CS_BT2020;
    default:
      return SWS_CS_DEFAULT;
  }
}

}  // namespace

// A scaler for this input; rebuilt only when the input size, format or colours change mid-stream.
void frame_converter::prepare(const AVFrame& frame, int w, int h) {
  if (sws_ && frame.width == in_w_ && frame.height == in_h_ && frame.format == in_format_ &&
      frame.colorspace == in_space_ && frame.color_range == in_range_ && w == out_w_ && h == out_h_)
    return;
  sws_freeContext(sws_);
  sws_ = sws_alloc_context();
  if (!sws_) throw std::bad_alloc();
  av_opt_set_int(sws_, "srcw", frame.width, 0);
  av_opt_set_int(sws_, "srch", frame.height, 0);
  av_opt_set_int(sws_, "src_format", frame.format, 0);
  av_opt_set_int(sws_, "dstw", w, 0);
  av_opt_set_int(sws_, "dsth", h, 0);
  av_opt_set_int(sws_, "dst_format", AV_PIX_FMT_RGB24, 0);
  av_opt_set_int(sws_, "sws_flags", SWS_BICUBIC, 0);
  av_opt_set_int(sws_, "threads", threads_, 0);
  if (int err = sws_init_context(sws_, nullptr, nullptr); err < 0) {
    sws_freeContext(sws_);
    sws_ = nullptr;
    throw std::runtime_error("cannot convert " + std::to_string(frame.width) + "x" +
                             std::to_string(frame.height) + " " +
                             (av_get_pix_fmt_name(static_cast<AVPixelFormat>(frame.format))
                                  ? av_get_pix_fmt_name(static_cast<AVPixelFormat>(frame.format))
                                  : "unknown") +
                             " frames to RGB: " + av_error_text(err));
  }
  // The stream's YUV matrix and range (yuvj* formats are full range already).
  int* table = nullptr;
  int* out_table = nullptr;
  int src_range = 0, dst_range = 0, brightness = 0, contrast = 0, saturation = 0;
  if (sws_getColorspaceDetails(sws_, &table, &src_range, &out_table, &dst_range, &brightness,
                               &contrast, &saturation) >= 0) {
    if (frame.color_range == AVCOL_RANGE_JPEG) src_range = 1;
    sws_setColorspaceDetails(sws_, sws_getCoefficients(sws_colorspace(frame.colorspace)), src_range,
                             out_table, dst_range, brightness, contrast, saturation);
  }
  in_space_ = frame.colorspace;
  in_range_ = frame.color_range;
  in_w_ = frame.width;
  in_h_ = frame.height;
  in_format_ = frame.format;
  out_w_ = w;
  out_h_ = h;
}

void frame_converter::convert(const AVFrame& frame, std::byte* out) {
  int w = out_width(frame), h = out_height(frame);
  prepare(frame, w, h);
  auto* target = reinterpret_cast<std::uint8_t*>(out);
  std::size_t pixels = static_cast<std::size_t>(w) * h * 3;
  if (type_ == dtype::f32) {
    scratch_.resize(pixels);
    target = scratch_.data();
  }
  // The destination frame borrows `target`: its buffer reference frees nothing.
  target_->width = w;
  target_->height = h;
  target_->format = AV_PIX_FMT_RGB24;
  target_->data[0] = target;
  target_->linesize[0] = w * 3;
  target_->buf[0] = av_buffer_create(
      target, static_cast<int>(pixels), [](void*, std::uint8_t*) {}, nullptr, 0);
  if (!target_->buf[0]) throw std::bad_alloc();
  int err = sws_scale_frame(sws_, target_, &frame);
  av_frame_unref(target_);
  if (err < 0) throw std::runtime_error("colour conversion failed: " + av_error_text(err));
  if (type_ == dtype::f32) {
    auto* f = reinterpret_cast<float*>(out);
    constexpr float scale = 1.0f / 255.0f;
    for (std::size_t i = 0; i < pixels; ++i) f[i] = static_cast<float>(scratch_[i]) * scale;
  }
}

}  // namespace loom::media
