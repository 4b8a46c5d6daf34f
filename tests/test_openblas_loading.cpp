// OpenBLAS opens with the first matrix product, not with libloom (devices/cpu/openblas.hpp): a
// process that never multiplies never starts its spinning thread pool. Its own executable, so
// that nothing else in the process has multiplied first.
#include <boost/test/unit_test.hpp>

#include <fstream>
#include <string>
#include <vector>

#include "devices/cpu/cpu_gemm.hpp"
#include "devices/cpu/openblas.hpp"

using namespace loom;

namespace {

bool openblas_mapped() {
  std::ifstream maps("/proc/self/maps");
  for (std::string line; std::getline(maps, line);)
    if (line.find("libopenblas") != std::string::npos) return true;
  return false;
}

}  // namespace

BOOST_AUTO_TEST_CASE(the_first_product_opens_openblas_and_multiplies) {
  BOOST_TEST(!openblas_mapped());  // linking libloom did not load it
  const std::vector<float> a = {1, 2, 3, 4, 5, 6};     // 2×3
  const std::vector<float> b = {7, 8, 9, 10, 11, 12};  // 3×2
  std::vector<float> c(4, 0.0f);
  gemm_args args;
  args.m = 2, args.n = 2, args.k = 3;
  args.a = reinterpret_cast<const std::byte*>(a.data()), args.lda = 3;
  args.b = reinterpret_cast<const std::byte*>(b.data()), args.ldb = 2;
  args.c = reinterpret_cast<std::byte*>(c.data()), args.ldc = 2;
  cpu_gemm("cpu", args);
  BOOST_TEST(openblas_mapped());
  const std::vector<float> expected = {58, 64, 139, 154};
  BOOST_TEST(c == expected, boost::test_tools::per_element());
  BOOST_TEST(&openblas() == &openblas());  // opened once
}
