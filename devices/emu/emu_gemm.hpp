// The emulated accelerator's matrix product. An NPU's matrix unit reads its operands in a reduced
// precision and accumulates in f32; so does this one: A and B are rounded to the device's
// `precision` (to nearest even), multiplied and summed in f32 by OpenBLAS, and C is rounded to
// its own dtype. Results therefore differ from an f32 product as the hardware's would, which is
// what a pipeline tested on emu needs to see.
#pragma once

#include <stdexcept>

#include "devices/device_plugin_abi.h"
#include "devices/emu/emu_config.hpp"

namespace loom::emu {

// A dtype combination the device cannot multiply (LOOM_DEVICE_UNSUPPORTED at the ABI).
struct unsupported_gemm : std::invalid_argument {
  using std::invalid_argument::invalid_argument;
};

// C = alpha * A * B + beta * C as loom_device_gemm describes. Throws unsupported_gemm for dtypes
// other than f32, bf16, f16 (C: f32 or A's dtype), std::invalid_argument for shapes that do not
// fit their leading dimensions.
void gemm(const loom_device_gemm& args, emu_precision precision);

}  // namespace loom::emu
