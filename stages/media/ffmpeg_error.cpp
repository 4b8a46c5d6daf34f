#include "stages/media/ffmpeg_error.hpp"

extern "C" {
#include <libavutil/error.h>
}

namespace loom::media {

std::string av_error_text(int error) {
  char text[AV_ERROR_MAX_STRING_SIZE] = {};
  if (av_strerror(error, text, sizeof text) < 0) return "FFmpeg error " + std::to_string(error);
  return text;
}

}  // namespace loom::media
