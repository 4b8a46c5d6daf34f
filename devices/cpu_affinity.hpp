// Pinning threads to CPU cores, and finding out where a thread runs.
#pragma once

#include <cstdint>
#include <vector>

namespace loom {

// CPUs this process may run on (its affinity mask at start-up).
std::vector<int> usable_cpus();

// Restricts the calling thread to `cpus`; throws std::system_error if the kernel refuses.
void pin_current_thread(const std::vector<int>& cpus);

// The CPU the calling thread is running on right now.
int current_cpu();

// A set of CPU numbers below 256, cheap to update on every packet.
class cpu_set_record {
 public:
  void add(int cpu);
  void merge(const cpu_set_record& other);
  std::vector<int> cpus() const;

 private:
  std::uint64_t bits_[4] = {0, 0, 0, 0};
};

}  // namespace loom
