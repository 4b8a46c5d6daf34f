// Vectors and tables a model keeps in f32 whatever its file's dtype (docs/model-architecture.md:
// norm scales, biases and embedding tables are widened once at load).
#pragma once

#include <vector>

#include "devices/tensor.hpp"

namespace loom {

// The elements of a dense host tensor (f32, bf16 or f16), row-major, as f32. Throws
// std::invalid_argument for another dtype.
std::vector<float> widen_to_f32(const tensor& t);

}  // namespace loom
