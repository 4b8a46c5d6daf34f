// Latency percentiles stay within the histogram's stated 3 % of the exact value.
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <random>
#include <vector>

#include "actors/latency_histogram.hpp"

using namespace loom;

BOOST_AUTO_TEST_CASE(percentiles_are_within_three_percent) {
  std::mt19937_64 rng(7);
  std::lognormal_distribution<double> dist(10.0, 1.5);
  latency_histogram h;
  std::vector<std::int64_t> exact;
  for (int i = 0; i < 100000; ++i) {
    auto ns = static_cast<std::int64_t>(dist(rng));
    exact.push_back(ns);
    h.record(ns);
  }
  std::sort(exact.begin(), exact.end());
  for (double q : {0.5, 0.9, 0.99}) {
    double want = exact[static_cast<std::size_t>(q * exact.size()) - 1] / 1000.0;
    BOOST_TEST(h.percentile_us(q) == want, boost::test_tools::tolerance(0.03));
  }
}

BOOST_AUTO_TEST_CASE(merging_adds_counts) {
  latency_histogram a, b;
  a.record(1000);
  b.record(1000000);
  b.record(1000000);
  a.merge(b);
  BOOST_TEST(a.count() == 3u);
  BOOST_TEST(a.percentile_us(0.99) == 1000.0, boost::test_tools::tolerance(0.03));
  BOOST_TEST(latency_histogram().percentile_us(0.5) == 0.0);
}
