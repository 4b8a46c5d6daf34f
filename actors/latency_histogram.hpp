// Latency percentiles in constant memory: log-linear buckets (32 per power of two, so a
// percentile is within about 3 % of the true value), mergeable across replicas.
#pragma once

#include <array>
#include <cstdint>

namespace loom {

class latency_histogram {
 public:
  void record(std::int64_t ns);
  void merge(const latency_histogram& other);
  std::uint64_t count() const { return count_; }
  // The q-quantile (0..1) in microseconds; 0 when empty.
  double percentile_us(double q) const;

 private:
  static constexpr int sub_buckets = 32;
  static constexpr int bucket_count = 64 * sub_buckets;
  static int bucket_of(std::uint64_t ns);
  static double midpoint_ns(int bucket);

  std::array<std::uint64_t, bucket_count> buckets_{};
  std::uint64_t count_ = 0;
};

}  // namespace loom
