// Converts decoded frames to packed RGB with libswscale, writing straight into the memory of the
// tensor that leaves the stage: the colour conversion is the only pass over the pixels.
#pragma once

#include <cstddef>
#include <vector>

#include "devices/dtype.hpp"

struct AVFrame;
struct SwsContext;

namespace loom::media {

class frame_converter {
 public:
  // `width`/`height` of 0 keep the frame's own size; `type` is u8 (0..255) or f32 ([0, 1]);
  // `threads` slices each conversion over that many threads (0: one per CPU).
  frame_converter(int width, int height, dtype type, int threads = 1);
  ~frame_converter();
  frame_converter(const frame_converter&) = delete;
  frame_converter& operator=(const frame_converter&) = delete;

  // The output size for a frame of this size.
  int out_width(const AVFrame& frame) const;
  int out_height(const AVFrame& frame) const;
  std::size_t out_bytes(const AVFrame& frame) const;

  // Writes the frame as [H, W, 3] RGB to `out`, which holds out_bytes(frame), with the YUV
  // matrix and range the frame declares (BT.601 when it declares none). u8: libswscale writes
  // `out` directly (wrapped as the destination frame's buffer, not copied). f32: libswscale
  // writes RGB24 to a reused scratch image, then each byte is scaled by 1/255 into `out`
  // (libswscale has no packed-float RGB output).
  void convert(const AVFrame& frame, std::byte* out);

 private:
  void prepare(const AVFrame& frame, int w, int h);

  int width_, height_;
  dtype type_;
  int threads_;
  SwsContext* sws_ = nullptr;
  int in_w_ = 0, in_h_ = 0, in_format_ = -1, out_w_ = 0, out_h_ = 0;  // what sws_ was made for
  int in_space_ = -1, in_range_ = -1;
  AVFrame* target_ = nullptr;
  std::vector<std::uint8_t> scratch_;
};

}  // namespace loom::media
