// Row-wise softmax in place, numerically stable: each row's maximum is subtracted before exp, so
// large scores (attention logits) never overflow.
#pragma once

#include <cstdint>

namespace loom::kernels {

// Each of `rows` rows of `cols` floats, `ld` floats apart (ld ≥ cols), becomes its softmax.
void softmax_rows(float* x, std::int64_t rows, std::int64_t cols, std::int64_t ld);

// softmax_rows without its last step: row r becomes e^(x − its maximum), and inverse_sums[r]
// (`rows` floats) receives 1 / the row's sum. A caller that multiplies the rows by a narrower
// matrix (attention's p·v) scales the product's rows instead, touching fewer floats.
void softmax_rows_unscaled(float* x, std::int64_t rows, std::int64_t cols, std::int64_t ld,
                           float* inverse_sums);

}  // namespace loom::kernels
