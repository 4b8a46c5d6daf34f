// Row-wise softmax in place, numerically stable: each row's maximum is subtracted before exp, so
// large scores (attention logits) never overflow.
#pragma once

#include <cstdint>

namespace loom::kernels {

// Each of `rows` rows of `cols` floats, `ld` floats apart (ld ≥ cols), becomes its softmax.
void softmax_rows(float* x, std::int64_t rows, std::int64_t cols, std::int64_t ld);

}  // namespace loom::kernels
