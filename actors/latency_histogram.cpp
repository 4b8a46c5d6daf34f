#include "actors/latency_histogram.hpp"

#include <bit>
#include <cmath>

namespace loom {

int latency_histogram::bucket_of(std::uint64_t ns) {
  if (ns < sub_buckets) return static_cast<int>(ns);
  int exponent = std::bit_width(ns) - 1;  // ns in [2^exponent, 2^(exponent+1))
  int shift = exponent - 5;               // 2^5 == sub_buckets
  int sub = static_cast<int>((ns >> shift) - sub_buckets);
  return (exponent - 4) * sub_buckets + sub;
}

double latency_histogram::midpoint_ns(int bucket) {
  if (bucket < sub_buckets) return bucket;
  int exponent = bucket / sub_buckets + 4;
  int sub = bucket % sub_buckets;
  double width = std::ldexp(1.0, exponent - 5);
  return std::ldexp(1.0, exponent) + (sub + 0.5) * width;
}

void latency_histogram::record(std::int64_t ns) {
  ++buckets_[bucket_of(ns < 0 ? 0 : static_cast<std::uint64_t>(ns))];
  ++count_;
}

void latency_histogram::merge(const latency_histogram& other) {
  for (int i = 0; i < bucket_count; ++i) buckets_[i] += other.buckets_[i];
  count_ += other.count_;
}

double latency_histogram::percentile_us(double q) const {
  if (count_ == 0) return 0;
  auto rank = static_cast<std::uint64_t>(std::ceil(q * static_cast<double>(count_)));
  if (rank == 0) rank = 1;
  std::uint64_t seen = 0;
  for (int i = 0; i < bucket_count; ++i) {
    seen += buckets_[i];
    if (seen >= rank) return midpoint_ns(i) / 1000.0;
  }
  return midpoint_ns(bucket_count - 1) / 1000.0;
}

}  // namespace loom
