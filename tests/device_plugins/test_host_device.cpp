// A device plugin that implements every optional entry, so that the tests can watch the C++
// adapter (devices/plugin_device.hpp) use them: kind `test_host`, memory from the host heap
// tagged "test_host:NAME", "page-locked" staging memory that is counted, peer copies between its
// own devices, an "async" stream whose `synchronize`, events and thread binding only count their
// calls, caps that change once opened (memory_total), and two detected devices. No matrix product:
// `gemm` stays NULL.
//
// The counters are read by the test through test_host_device_counts(), found with dlsym.
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "tests/device_plugins/stub_device.hpp"

struct test_host_counts {
  std::atomic<int> opened{0};
  std::atomic<int> closed{0};
  std::atomic<int> live_blocks{0};
  std::atomic<int> live_host_blocks{0};
  std::atomic<int> peer_copies{0};
  std::atomic<int> synchronized{0};
  std::atomic<int> events_recorded{0};
  std::atomic<int> events_waited{0};
  std::atomic<int> events_destroyed{0};
  std::atomic<int> threads_bound{0};
};

struct loom_device {
  std::string name;
};

struct loom_device_event {
  int id;
};

namespace {

constexpr uint64_t opened_memory = 1 << 20;

test_host_counts counts;

void say(char* error, size_t size, const char* message) {
  std::snprintf(error, size, "%s", message);
}

const char* value_of(const loom_device_param_value* values, size_t count, const char* key) {
  for (size_t i = 0; i < count; ++i)
    if (std::strcmp(values[i].key, key) == 0) return values[i].value;
  return nullptr;
}

void describe_caps(const char* name, loom_device_caps* caps) {
  *caps = loom_device_caps{};
  std::snprintf(caps->memory_space, sizeof caps->memory_space, "test_host:%s", name);
  caps->async = 1;
  std::snprintf(caps->peers, sizeof caps->peers, "test_host:a, test_host:b");
  caps->compute_dtypes = 1u << LOOM_DEVICE_F32;
  caps->copy_bytes_per_s = 1e9;
  caps->numa_node = -1;
}

const char* const no_choices[] = {nullptr};

const loom_device_param params[] = {
    {"fail_open", LOOM_DEVICE_PARAM_BOOLEAN, "false", "refuse to open", nullptr, nullptr, nullptr},
    {"lanes", LOOM_DEVICE_PARAM_INTEGER, "4", "an integer that must reach the plugin", "1", "64",
     nullptr},
    {"label", LOOM_DEVICE_PARAM_STRING, nullptr, "a required string", nullptr, nullptr, no_choices},
};

const loom_device_plugin table = [] {
  loom_device_plugin t{};
  t.kind = "test_host";
  t.summary = "host memory behind every optional entry, for tests";
  t.params = params;
  t.param_count = sizeof params / sizeof params[0];
  t.describe = [](const char* name, const loom_device_param_value* values, size_t count,
                  loom_device_caps* caps, char* error, size_t size) {
    const char* lanes = value_of(values, count, "lanes");
    if (lanes == nullptr || (std::strcmp(lanes, "4") != 0 && std::strcmp(lanes, "8") != 0)) {
      say(error, size, "lanes must be 4 or 8");
      return LOOM_DEVICE_ERROR;
    }
    describe_caps(name, caps);
    return LOOM_DEVICE_OK;
  };
  t.open = [](const char* name, const loom_device_param_value* values, size_t count, char* error,
              size_t size) -> loom_device* {
    if (std::strcmp(value_of(values, count, "fail_open"), "true") == 0) {
      say(error, size, "refused on purpose");
      return nullptr;
    }
    ++counts.opened;
    return new loom_device{name};
  };
  t.close = [](loom_device* device) {
    ++counts.closed;
    delete device;
  };
  t.memory_free = [](loom_device*) -> uint64_t { return opened_memory; };
  t.alloc = [](loom_device*, uint64_t bytes, void** memory, char*, size_t) {
    *memory = std::aligned_alloc(64, (bytes + 63) / 64 * 64 + 64);
    ++counts.live_blocks;
    return LOOM_DEVICE_OK;
  };
  t.free = [](loom_device*, void* memory) {
    --counts.live_blocks;
    std::free(memory);
  };
  auto copy = [](loom_device*, const void* from, void* to, uint64_t bytes, char*, size_t) {
    std::memcpy(to, from, bytes);
    return LOOM_DEVICE_OK;
  };
  t.copy_from_host = copy;
  t.copy_to_host = copy;
  t.copy_within = copy;
  t.alloc_host = [](loom_device*, uint64_t bytes, void** memory, char*, size_t) {
    *memory = std::aligned_alloc(64, (bytes + 63) / 64 * 64 + 64);
    ++counts.live_host_blocks;
    return LOOM_DEVICE_OK;
  };
  t.free_host = [](loom_device*, void* memory) {
    --counts.live_host_blocks;
    std::free(memory);
  };
  t.query_caps = [](loom_device* device, loom_device_caps* caps, char*, size_t) {
    describe_caps(device->name.c_str(), caps);
    caps->memory_total = opened_memory;
    return LOOM_DEVICE_OK;
  };
  t.bind_thread = [](loom_device*, char*, size_t) {
    ++counts.threads_bound;
    return LOOM_DEVICE_OK;
  };
  t.copy_from_peer = [](loom_device*, const char* source, const void* from, void* to,
                        uint64_t bytes, char*, size_t) {
    if (std::strncmp(source, "test_host:", 10) != 0) return LOOM_DEVICE_UNSUPPORTED;
    ++counts.peer_copies;
    std::memcpy(to, from, bytes);
    return LOOM_DEVICE_OK;
  };
  t.synchronize = [](loom_device*, char*, size_t) {
    ++counts.synchronized;
    return LOOM_DEVICE_OK;
  };
  t.event_record = [](loom_device*, char*, size_t) {
    return new loom_device_event{++counts.events_recorded};
  };
  t.event_wait = [](loom_device*, loom_device_event*, char*, size_t) {
    ++counts.events_waited;
    return LOOM_DEVICE_OK;
  };
  t.event_done = [](loom_device*, loom_device_event*) { return 1; };
  t.event_destroy = [](loom_device*, loom_device_event* event) {
    ++counts.events_destroyed;
    delete event;
  };
  t.detect = [](loom_device_found_fn found, void* context, char*, size_t) {
    loom_device_caps caps;
    for (const char* name : {"a", "b"}) {
      describe_caps(name, &caps);
      found(context, name, "a test device", &caps);
    }
    return LOOM_DEVICE_OK;
  };
  return t;
}();

}  // namespace

LOOM_TEST_EXPORT const uint32_t loom_device_plugin_abi_version = LOOM_DEVICE_PLUGIN_ABI_VERSION;

LOOM_TEST_EXPORT const loom_device_plugin* loom_device_plugin_describe(void) { return &table; }

LOOM_TEST_EXPORT const test_host_counts* test_host_device_counts(void) { return &counts; }
