// cuBLAS, opened the first time a product needs it. Linking it would cost every process that
// loads libloom over half a second of cuBLAS's start-up (its static initialisers), `loom check`
// and `loom version` on machines without a GPU included; cudart alone costs milliseconds.
#pragma once

#include <cublas_v2.h>

namespace loom {

struct cublas_library {
  decltype(&cublasCreate_v2) create;
  decltype(&cublasDestroy_v2) destroy;
  decltype(&cublasSetStream_v2) set_stream;
  decltype(&cublasSetMathMode) set_math_mode;
  decltype(&cublasSgemm_v2) sgemm;
  // cublasGemmEx is overloaded in C++ (a legacy cudaDataType compute type): the C entry's type.
  cublasStatus_t (*gemm_ex)(cublasHandle_t, cublasOperation_t, cublasOperation_t, int, int, int,
                            const void*, const void*, cudaDataType, int, const void*,
                            cudaDataType, int, const void*, void*, cudaDataType, int,
                            cublasComputeType_t, cublasGemmAlgo_t);
  decltype(&cublasGetStatusName) status_name;
  decltype(&cublasGetStatusString) status_string;
};

// The library's entries, loaded once; throws std::runtime_error saying what could not be found
// (libcublas.so.13 missing, or an entry missing from it).
const cublas_library& cublas();

}  // namespace loom
