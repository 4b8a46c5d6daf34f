// The C++ adapter for plugin devices (see plugin_device.hpp): each loom::device call becomes one
// call into the plugin's table, its status and message an exception that names the device.
#include "devices/plugin_device.hpp"

#include <cstring>
#include <stdexcept>
#include <string_view>

#include <fmt/format.h>

#include "devices/cpu_affinity.hpp"

namespace loom {
namespace {

static_assert(LOOM_DEVICE_U8 == static_cast<int>(dtype::u8) &&
                  LOOM_DEVICE_I32 == static_cast<int>(dtype::i32) &&
                  LOOM_DEVICE_I64 == static_cast<int>(dtype::i64) &&
                  LOOM_DEVICE_F16 == static_cast<int>(dtype::f16) &&
                  LOOM_DEVICE_BF16 == static_cast<int>(dtype::bf16) &&
                  LOOM_DEVICE_F32 == static_cast<int>(dtype::f32),
              "the ABI numbers dtypes as loom does, so that a cast converts them");

constexpr dtype all_dtypes[] = {dtype::u8,  dtype::i32,  dtype::i64,
                                dtype::f16, dtype::bf16, dtype::f32};

// The message buffer every fallible entry writes into, and what to say when a plugin failed
// without writing anything.
class error_buffer {
 public:
  char* data() { return text_; }
  std::size_t size() const { return sizeof text_; }
  std::string message(std::string_view entry) {
    text_[sizeof text_ - 1] = '\0';
    if (text_[0] == '\0') return fmt::format("{} failed without saying why", entry);
    return text_;
  }

 private:
  char text_[512] = "";
};

// Runs one fallible entry with a fresh message buffer; throws std::runtime_error naming the
// device unless it returned LOOM_DEVICE_OK.
template <class Call>
void call_checked(const std::string& device, std::string_view entry, Call&& call) {
  error_buffer error;
  if (call(error.data(), error.size()) != LOOM_DEVICE_OK)
    throw std::runtime_error(fmt::format("device '{}': {}", device, error.message(entry)));
}

// A C string from a fixed-size field the plugin filled, terminated or not.
std::string field(const char* text, std::size_t size) {
  return std::string(text, strnlen(text, size));
}

std::vector<std::string> split_commas(const std::string& list) {
  std::vector<std::string> items;
  std::size_t begin = 0;
  while (begin <= list.size()) {
    auto end = list.find(',', begin);
    if (end == std::string::npos) end = list.size();
    auto item = list.substr(begin, end - begin);
    item.erase(0, item.find_first_not_of(' '));
    item.erase(item.find_last_not_of(' ') + 1);
    if (!item.empty()) items.push_back(item);
    begin = end + 1;
  }
  return items;
}

// An event the plugin recorded; holds the device handle, so the device stays open until every
// event is destroyed.
class plugin_event final : public device_event {
 public:
  plugin_event(std::string device, std::shared_ptr<const device_plugin> plugin,
               std::shared_ptr<loom_device> handle, loom_device_event* event)
      : device_(std::move(device)),
        plugin_(std::move(plugin)),
        handle_(std::move(handle)),
        event_(event) {}
  ~plugin_event() override { plugin_->table->event_destroy(handle_.get(), event_); }
  plugin_event(const plugin_event&) = delete;
  plugin_event& operator=(const plugin_event&) = delete;

  void wait() override {
    call_checked(device_, "event_wait", [&](char* error, std::size_t size) {
      return plugin_->table->event_wait(handle_.get(), event_, error, size);
    });
  }

  bool done() override {
    switch (plugin_->table->event_done(handle_.get(), event_)) {
      case 1: return true;
      case 0: return false;
      default: throw std::runtime_error(fmt::format("device '{}': event_done failed", device_));
    }
  }

 private:
  std::string device_;
  std::shared_ptr<const device_plugin> plugin_;
  std::shared_ptr<loom_device> handle_;
  loom_device_event* event_;
};

}  // namespace

device_caps to_device_caps(const loom_device_caps& caps, std::vector<int> cores) {
  device_caps out;
  out.memory_space = field(caps.memory_space, sizeof caps.memory_space);
  out.memory_total = caps.memory_total;
  out.async = caps.async != 0;
  out.peers = split_commas(field(caps.peers, sizeof caps.peers));
  for (auto type : all_dtypes)
    if (caps.compute_dtypes & (1u << static_cast<unsigned>(type)))
      out.compute_dtypes.push_back(type);
  out.copy_bytes_per_s = caps.copy_bytes_per_s;
  out.flops = caps.flops;
  out.reduced_flops = caps.reduced_flops;
  out.cores = std::move(cores);
  out.numa_node = caps.numa_node;
  return out;
}

plugin_device::plugin_device(std::string name, std::shared_ptr<const device_plugin> plugin,
                             loom_device* handle, device_caps caps)
    : device(std::move(name), plugin->table->kind, std::move(caps)),
      plugin_(plugin),
      handle_(handle, [plugin](loom_device* open) { plugin->table->close(open); }) {}

std::size_t plugin_device::memory_free() const {
  return plugin_->table->memory_free(handle_.get());
}

buffer plugin_device::allocate(std::size_t bytes) {
  error_buffer error;
  void* memory = nullptr;
  auto status = plugin_->table->alloc(handle_.get(), bytes, &memory, error.data(), error.size());
  if (status == LOOM_DEVICE_OUT_OF_MEMORY) throw device_out_of_memory(name(), bytes, memory_free());
  if (status != LOOM_DEVICE_OK)
    throw std::runtime_error(fmt::format("device '{}': {}", name(), error.message("alloc")));
  return buffer::adopt(
      static_cast<std::byte*>(memory), bytes,
      [plugin = plugin_, handle = handle_, memory] { plugin->table->free(handle.get(), memory); });
}

buffer plugin_device::allocate_staging(std::size_t bytes) {
  if (plugin_->table->alloc_host == nullptr) return device::allocate_staging(bytes);
  void* memory = nullptr;
  call_checked(name(), "alloc_host", [&](char* error, std::size_t size) {
    return plugin_->table->alloc_host(handle_.get(), bytes, &memory, error, size);
  });
  return buffer::adopt(static_cast<std::byte*>(memory), bytes,
                       [plugin = plugin_, handle = handle_, memory] {
                         plugin->table->free_host(handle.get(), memory);
                       });
}

void plugin_device::copy_from_host(const std::byte* host, std::byte* to, std::size_t bytes) {
  call_checked(name(), "copy_from_host", [&](char* error, std::size_t size) {
    return plugin_->table->copy_from_host(handle_.get(), host, to, bytes, error, size);
  });
}

void plugin_device::copy_to_host(const std::byte* from, std::byte* host, std::size_t bytes) {
  call_checked(name(), "copy_to_host", [&](char* error, std::size_t size) {
    return plugin_->table->copy_to_host(handle_.get(), from, host, bytes, error, size);
  });
}

void plugin_device::copy_within(const std::byte* from, std::byte* to, std::size_t bytes) {
  call_checked(name(), "copy_within", [&](char* error, std::size_t size) {
    return plugin_->table->copy_within(handle_.get(), from, to, bytes, error, size);
  });
}

bool plugin_device::copy_from_peer(const device& source, const std::byte* from, std::byte* to,
                                   std::size_t bytes) {
  if (plugin_->table->copy_from_peer == nullptr) return false;
  error_buffer error;
  switch (plugin_->table->copy_from_peer(handle_.get(), source.memory_space().c_str(), from, to,
                                         bytes, error.data(), error.size())) {
    case LOOM_DEVICE_OK: return true;
    case LOOM_DEVICE_UNSUPPORTED: return false;
    default:
      throw std::runtime_error(
          fmt::format("device '{}': {}", name(), error.message("copy_from_peer")));
  }
}

void plugin_device::synchronize() {
  if (plugin_->table->synchronize == nullptr) return;
  call_checked(name(), "synchronize", [&](char* error, std::size_t size) {
    return plugin_->table->synchronize(handle_.get(), error, size);
  });
}

std::unique_ptr<device_event> plugin_device::record() {
  if (plugin_->table->event_record == nullptr) return device::record();
  error_buffer error;
  auto* event = plugin_->table->event_record(handle_.get(), error.data(), error.size());
  if (event == nullptr)
    throw std::runtime_error(fmt::format("device '{}': {}", name(), error.message("event_record")));
  return std::make_unique<plugin_event>(name(), plugin_, handle_, event);
}

void plugin_device::bind_thread() {
  if (!caps().cores.empty()) pin_current_thread(caps().cores);
  if (plugin_->table->bind_thread == nullptr) return;
  call_checked(name(), "bind_thread", [&](char* error, std::size_t size) {
    return plugin_->table->bind_thread(handle_.get(), error, size);
  });
}

void plugin_device::gemm(const gemm_args& args) {
  if (plugin_->table->gemm == nullptr)
    throw std::invalid_argument(
        fmt::format("device '{}' (kind {}) has no matrix product", name(), kind()));
  const loom_device_gemm c_args{static_cast<loom_device_dtype>(args.type),
                                static_cast<loom_device_dtype>(args.out_type),
                                args.m,
                                args.n,
                                args.k,
                                args.a,
                                args.lda,
                                args.b,
                                args.ldb,
                                args.c,
                                args.ldc,
                                args.alpha,
                                args.beta};
  error_buffer error;
  switch (plugin_->table->gemm(handle_.get(), &c_args, error.data(), error.size())) {
    case LOOM_DEVICE_OK: return;
    case LOOM_DEVICE_UNSUPPORTED:
      throw std::invalid_argument(fmt::format("device '{}': {}", name(), error.message("gemm")));
    default:
      throw std::runtime_error(fmt::format("device '{}': {}", name(), error.message("gemm")));
  }
}

}  // namespace loom
