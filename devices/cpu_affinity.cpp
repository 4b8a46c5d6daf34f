#include "devices/cpu_affinity.hpp"

#include <pthread.h>
#include <sched.h>

#include <cerrno>
#include <system_error>

namespace loom {

std::vector<int> usable_cpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  std::vector<int> cpus;
  if (sched_getaffinity(0, sizeof(set), &set) != 0) return cpus;
  for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu)
    if (CPU_ISSET(cpu, &set)) cpus.push_back(cpu);
  return cpus;
}

void pin_current_thread(const std::vector<int>& cpus) {
  cpu_set_t set;
  CPU_ZERO(&set);
  for (int cpu : cpus) CPU_SET(cpu, &set);
  int rc = pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
  if (rc != 0) throw std::system_error(rc, std::generic_category(), "pthread_setaffinity_np");
}

int current_cpu() { return sched_getcpu(); }

void cpu_set_record::add(int cpu) {
  if (cpu >= 0 && cpu < 256) bits_[cpu / 64] |= std::uint64_t{1} << (cpu % 64);
}

void cpu_set_record::merge(const cpu_set_record& other) {
  for (int i = 0; i < 4; ++i) bits_[i] |= other.bits_[i];
}

std::vector<int> cpu_set_record::cpus() const {
  std::vector<int> out;
  for (int cpu = 0; cpu < 256; ++cpu)
    if (bits_[cpu / 64] >> (cpu % 64) & 1) out.push_back(cpu);
  return out;
}

}  // namespace loom
