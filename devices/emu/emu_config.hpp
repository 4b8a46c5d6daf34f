// An emulated accelerator's `[devices.NAME]` keys: their declaration (the table loom checks graph
// files against), their checked values, and the caps that follow from them. One place, so that
// the defaults `loom devices` shows are the ones a device opens with.
#pragma once

#include <cstddef>
#include <string>

#include "devices/device_plugin_abi.h"

namespace loom::emu {

// What the math rounds its inputs to before multiplying (products accumulate in f32).
enum class emu_precision { bf16, f16, f32 };

struct emu_config {
  std::string name;
  std::size_t memory = 0;       // pool capacity, bytes
  double copy_bytes_per_s = 0;  // host <-> device
  double flops = 0;             // f32
  double reduced_flops = 0;     // bf16 / f16
  emu_precision precision = emu_precision::bf16;
  bool throttle = false;
};

extern const loom_device_param emu_params[];
extern const std::size_t emu_param_count;

// The checked values of one device; throws std::invalid_argument saying which value is wrong and
// what would be right. Keys it does not declare are ignored; missing ones take their defaults.
emu_config parse_emu_config(const char* name, const loom_device_param_value* values,
                            std::size_t count);

// Sizes and rates as written in graph files: "512MiB", "2GiB", "1.5GB"; "25GB/s". Binary units
// (KiB, MiB, GiB, TiB) are powers of 1024, decimal ones (KB, MB, GB, TB) of 1000; no unit or "B"
// is bytes. Throw std::invalid_argument.
std::size_t parse_bytes(const std::string& key, const std::string& text);
double parse_bytes_per_s(const std::string& key, const std::string& text);

loom_device_caps emu_caps(const emu_config& config);

}  // namespace loom::emu
