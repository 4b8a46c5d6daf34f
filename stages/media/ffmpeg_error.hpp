// FFmpeg error codes as text, for messages that name the source and the position.
#pragma once

#include <string>

namespace loom::media {

// av_strerror's text for an AVERROR code, e.g. "Invalid data found when processing input".
std::string av_error_text(int error);

}  // namespace loom::media
