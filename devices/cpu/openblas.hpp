// OpenBLAS, opened with the first product instead of with libloom. Opening it starts its thread
// pool — a thread per core, each spinning about 0.1 s (2^28 cycles) for work before it sleeps —
// so a process that merely links it pays that at start whether it ever multiplies or not: 0.13 s
// of CPU on the 2-core development VM, several core-seconds on a 64-core host, for `loom check`,
// a node daemon waiting for its graph, a node whose part only moves packets. Opened here, only a
// process that multiplies pays, when it first does; environment settings such as
// OPENBLAS_CORETYPE still apply, being read when the library opens.
#pragma once

#include <cblas.h>

namespace loom {

struct openblas_api {
  decltype(&::cblas_sgemm) sgemm = nullptr;
  decltype(&::openblas_set_num_threads) set_num_threads = nullptr;
};

// The library (its soname, libopenblas.so.0), opened on the first call from any thread; throws
// std::runtime_error naming it and how to install it when it cannot be opened.
const openblas_api& openblas();

}  // namespace loom
