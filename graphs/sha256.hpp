// SHA-256 (FIPS 180-4), for graph_def::sha256: which graph file a run used, recorded with its
// results. Small enough to carry here rather than add a crypto library to loom.
#pragma once

#include <string>
#include <string_view>

namespace loom {

// Lowercase hex digest of `bytes`.
std::string sha256_hex(std::string_view bytes);

}  // namespace loom
