// The device plugin loader (device_registry::load_plugin) and the C++ adapter for plugin devices
// (devices/plugin_device.hpp), against the built emu plugin and the libraries of
// tests/device_plugins/: a good plugin becomes a device kind whose parameters the graph checker
// can use; every way a library can be refused throws with its exact message, naming the file;
// the adapter uses each optional entry where the plugin has it, and keeps the device open and
// the library loaded while any buffer or event of the device lives.
#include <boost/test/unit_test.hpp>

#include <dlfcn.h>

#include <atomic>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <stdexcept>
#include <string>

#include "devices/device_plugin_abi.h"
#include "devices/device_registry.hpp"
#include "devices/transfer.hpp"

// The counters tests/device_plugins/test_host_device.cpp keeps; the same layout.
struct test_host_counts {
  std::atomic<int> opened;
  std::atomic<int> closed;
  std::atomic<int> live_blocks;
  std::atomic<int> live_host_blocks;
  std::atomic<int> peer_copies;
  std::atomic<int> synchronized;
  std::atomic<int> events_recorded;
  std::atomic<int> events_waited;
  std::atomic<int> events_destroyed;
  std::atomic<int> threads_bound;
};

namespace loom {
namespace {

const std::string emu_path = LOOM_DEVICE_EMU_PATH;
const std::string plugin_dir = std::string(LOOM_BINARY_DIR) + "/tests/device_plugins";

std::string plugin_path(const std::string& name) { return plugin_dir + "/lib" + name + ".so"; }

// What load_plugin threw; a marker that fails any comparison when it threw nothing.
std::string load_error(const std::string& path, device_registry& registry) {
  try {
    registry.load_plugin(path);
  } catch (const std::runtime_error& e) {
    return e.what();
  }
  return "(loaded without error)";
}

// True while the dynamic loader has the library at `path` open.
bool library_loaded(const std::string& path) {
  void* handle = dlopen(path.c_str(), RTLD_NOW | RTLD_NOLOAD);
  if (handle == nullptr) return false;
  dlclose(handle);
  return true;
}

// The test_host plugin's counters, while it is loaded.
const test_host_counts& host_counts() {
  void* handle = dlopen(plugin_path("test_host_device").c_str(), RTLD_NOW | RTLD_NOLOAD);
  BOOST_REQUIRE(handle != nullptr);
  auto counts =
      reinterpret_cast<const test_host_counts* (*)()>(dlsym(handle, "test_host_device_counts"));
  dlclose(handle);  // the registry keeps it loaded
  BOOST_REQUIRE(counts != nullptr);
  return *counts();
}

param_values values(std::map<std::string, param_value, std::less<>> given) {
  return param_values(std::move(given));
}

const param_spec& spec_of(const device_kind& kind, const std::string& key) {
  for (const auto& spec : kind.params)
    if (spec.key == key) return spec;
  throw std::logic_error("no parameter " + key);
}

}  // namespace

BOOST_AUTO_TEST_CASE(emu_loads_as_a_kind_with_the_file_as_origin) {
  device_registry registry;
  registry.load_plugin(emu_path);
  const auto* emu = registry.find("emu");
  BOOST_REQUIRE(emu != nullptr);
  BOOST_TEST(emu->origin == emu_path);
  BOOST_TEST(emu->summary.find("emulated accelerator") == 0u);

  // The graph checker validates [devices.X] keys against these.
  const auto& memory = spec_of(*emu, "memory");
  BOOST_TEST((memory.type == param_type::string));
  BOOST_TEST(std::get<std::string>(*memory.default_value) == "1GiB");
  const auto& tflops = spec_of(*emu, "tflops");
  BOOST_TEST((tflops.type == param_type::number));
  BOOST_TEST(std::get<double>(*tflops.default_value) == 2.0);
  BOOST_TEST(*tflops.min == 0.0);
  BOOST_TEST(!tflops.max.has_value());
  const auto& precision = spec_of(*emu, "precision");
  BOOST_TEST(precision.choices == (std::vector<std::string>{"bf16", "f16", "f32"}),
             boost::test_tools::per_element());
  BOOST_TEST(std::get<bool>(*spec_of(*emu, "throttle").default_value) == false);
  BOOST_TEST(emu->params.size() == 6u);
}

BOOST_AUTO_TEST_CASE(emu_describes_a_declared_device_without_opening_it) {
  device_registry registry;
  registry.load_plugin(emu_path);
  const auto* emu = registry.find("emu");
  auto caps = emu->describe("npu0",
                            values({{"memory", std::string("512MiB")},
                                    {"bandwidth", std::string("20GB/s")},
                                    {"tflops", 4.0}}),
                            {2, 3});
  BOOST_TEST(caps.memory_space == "emu:npu0");
  BOOST_TEST(caps.memory_total == 512u << 20);
  BOOST_TEST(caps.copy_bytes_per_s == 20e9);
  BOOST_TEST(caps.flops == 4e12);
  BOOST_TEST(caps.reduced_flops == 8e12);
  BOOST_TEST(!caps.async);
  BOOST_TEST(caps.cores == (std::vector<int>{2, 3}), boost::test_tools::per_element());
  BOOST_TEST((caps.compute_dtypes == std::vector<dtype>{dtype::f16, dtype::bf16, dtype::f32}));

  try {
    emu->describe("npu0", values({{"memory", std::string("lots")}}), {});
    BOOST_FAIL("a memory size that does not parse was accepted");
  } catch (const std::runtime_error& e) {
    BOOST_TEST(e.what() ==
               std::string("device 'npu0': memory 'lots' is not a size such as \"512MiB\" or "
                           "\"2GiB\""));
  }
}

BOOST_AUTO_TEST_CASE(emu_detects_itself) {
  device_registry registry;
  registry.load_plugin(emu_path);
  auto found = registry.find("emu")->detect();
  BOOST_REQUIRE(found.size() == 1u);
  BOOST_TEST(found[0].name == "emu");
  BOOST_TEST(found[0].description == "emulated accelerator (plugin)");
  BOOST_TEST(found[0].caps.memory_space == "emu:emu");
}

BOOST_AUTO_TEST_CASE(the_standard_registry_loads_emu_from_beside_libloom) {
  auto registry = device_registry::standard();
  const auto* emu = registry.find("emu");
  BOOST_REQUIRE(emu != nullptr);
  BOOST_TEST(std::filesystem::equivalent(emu->origin, emu_path));
}

BOOST_AUTO_TEST_CASE(the_same_file_twice_adds_nothing_and_a_second_emu_is_refused) {
  device_registry registry;
  registry.load_plugin(emu_path);
  registry.load_plugin(emu_path);
  BOOST_TEST(registry.kinds() == (std::vector<std::string>{"emu"}),
             boost::test_tools::per_element());

  auto copy = plugin_dir + "/libloom_device_emu_copy.so";
  std::filesystem::copy_file(emu_path, copy, std::filesystem::copy_options::overwrite_existing);
  BOOST_TEST(load_error(copy, registry) == "device plugin " + copy +
                                               ": device kind 'emu' is already registered (by " +
                                               emu_path + ")");
  BOOST_TEST(registry.find("emu")->origin == emu_path);
  std::filesystem::remove(copy);
}

BOOST_AUTO_TEST_CASE(a_relative_path_is_refused) {
  device_registry registry;
  BOOST_TEST(load_error("libloom_device_emu.so", registry) ==
             "device plugin libloom_device_emu.so: path must be absolute");
}

BOOST_AUTO_TEST_CASE(a_missing_file_is_refused) {
  device_registry registry;
  auto path = plugin_path("no_such_device");
  BOOST_TEST(load_error(path, registry) == "device plugin " + path + ": no such file");
}

BOOST_AUTO_TEST_CASE(a_file_that_is_not_a_library_is_refused) {
  device_registry registry;
  auto path = plugin_dir + "/not_a_device_library.so";
  // Longer than an ELF header, so that the dynamic loader reads the header and rejects it.
  std::ofstream(path) << "This is a text file that happens to have the name of a shared library.\n";
  BOOST_TEST(load_error(path, registry) == "device plugin " + path +
                                               ": not a loadable shared library (" + path +
                                               ": invalid ELF header)");
  std::filesystem::remove(path);
}

BOOST_AUTO_TEST_CASE(a_library_for_another_abi_version_is_refused_before_anything_runs) {
  device_registry registry;
  auto path = plugin_path("wrong_abi_device");
  BOOST_TEST(load_error(path, registry) ==
             "device plugin " + path + ": built for device plugin ABI version " +
                 std::to_string(LOOM_DEVICE_PLUGIN_ABI_VERSION + 1) +
                 ", this loom speaks version " + std::to_string(LOOM_DEVICE_PLUGIN_ABI_VERSION) +
                 "; rebuild it against this loom");
  BOOST_TEST(registry.kinds().empty());
}

BOOST_AUTO_TEST_CASE(a_library_without_a_version_is_refused_before_anything_runs) {
  device_registry registry;
  auto path = plugin_path("no_version_device");
  BOOST_TEST(load_error(path, registry) ==
             "device plugin " + path +
                 ": missing symbol loom_device_plugin_abi_version (is it a loom device plugin? "
                 "see devices/device_plugin_abi.h)");
}

BOOST_AUTO_TEST_CASE(a_library_without_a_describe_entry_is_refused) {
  device_registry registry;
  auto path = plugin_path("no_describe_device");
  BOOST_TEST(load_error(path, registry) ==
             "device plugin " + path + ": missing symbol loom_device_plugin_describe");
}

BOOST_AUTO_TEST_CASE(a_table_with_a_null_required_entry_is_refused) {
  device_registry registry;
  auto path = plugin_path("null_alloc_device");
  BOOST_TEST(load_error(path, registry) ==
             "device plugin " + path + ": required entry 'alloc' is NULL");
  BOOST_TEST(registry.kinds().empty());
}

BOOST_AUTO_TEST_CASE(event_entries_come_as_a_set) {
  device_registry registry;
  auto path = plugin_path("half_events_device");
  BOOST_TEST(load_error(path, registry) ==
             "device plugin " + path +
                 ": the four event entries come together, but 'event_wait' is NULL");
}

BOOST_AUTO_TEST_CASE(host_memory_entries_come_as_a_pair) {
  device_registry registry;
  auto path = plugin_path("half_host_memory_device");
  BOOST_TEST(load_error(path, registry) ==
             "device plugin " + path +
                 ": alloc_host and free_host come together, but 'free_host' is NULL");
}

BOOST_AUTO_TEST_CASE(a_refused_library_is_unloaded_again) {
  device_registry registry;
  auto path = plugin_path("null_alloc_device");
  load_error(path, registry);
  BOOST_TEST(!library_loaded(path));
}

BOOST_AUTO_TEST_CASE(parameters_reach_the_plugin_in_its_spelling) {
  device_registry registry;
  registry.load_plugin(plugin_path("test_host_device"));
  const auto* kind = registry.find("test_host");
  BOOST_REQUIRE(kind != nullptr);
  BOOST_TEST((spec_of(*kind, "lanes").type == param_type::integer));
  BOOST_TEST(*spec_of(*kind, "lanes").min == 1.0);
  BOOST_TEST(*spec_of(*kind, "lanes").max == 64.0);
  BOOST_TEST(!spec_of(*kind, "label").default_value.has_value());
  BOOST_TEST(spec_of(*kind, "label").choices.empty());

  // The plugin accepts lanes 4 or 8 only: the integer arrives as "8".
  auto caps =
      kind->describe("a", values({{"lanes", std::int64_t{8}}, {"label", std::string("x")}}), {});
  BOOST_TEST(caps.memory_space == "test_host:a");
  BOOST_TEST(caps.peers == (std::vector<std::string>{"test_host:a", "test_host:b"}),
             boost::test_tools::per_element());
  BOOST_CHECK_EXCEPTION(
      kind->describe("a", values({{"lanes", std::int64_t{5}}, {"label", std::string("x")}}), {}),
      std::runtime_error, [](const std::runtime_error& e) {
        return e.what() == std::string("device 'a': lanes must be 4 or 8");
      });
  // A required key the caller left out is named.
  BOOST_CHECK_EXCEPTION(kind->describe("a", values({}), {}), std::invalid_argument,
                        [](const std::invalid_argument& e) {
                          return e.what() ==
                                 std::string("device 'a': no value for its parameter 'label'");
                        });
  BOOST_CHECK_EXCEPTION(
      kind->open("a", values({{"fail_open", true}, {"label", std::string("x")}}), {}),
      std::runtime_error, [](const std::runtime_error& e) {
        return e.what() ==
               std::string("device 'a' (test_host) cannot be opened: refused on purpose");
      });
}

BOOST_AUTO_TEST_CASE(the_adapter_uses_each_optional_entry) {
  device_registry registry;
  registry.load_plugin(plugin_path("test_host_device"));
  const auto& kind = *registry.find("test_host");
  const auto& counts = host_counts();
  auto a = kind.open("a", values({{"label", std::string("x")}}), {});
  auto b = kind.open("b", values({{"label", std::string("x")}}), {});
  // query_caps: an opened device knows its memory; describe did not.
  BOOST_TEST(a->caps().memory_total == 1u << 20);
  BOOST_TEST(a->kind() == "test_host");

  auto source = tensor::zeros(dtype::i32, {4, 8});
  for (int i = 0; i < 32; ++i) source.data<std::int32_t>()[i] = i * 7;
  auto on_a = transfer(source, host_device(), *a);
  const int peer_before = counts.peer_copies;
  auto on_b = transfer(on_a, *a, *b);
  BOOST_TEST(counts.peer_copies == peer_before + 1);
  BOOST_TEST(on_b.device() == "test_host:b");
  auto back = transfer(on_b, *b, host_device());
  BOOST_TEST(std::memcmp(back.raw(), source.raw(), source.nbytes()) == 0);
  BOOST_TEST(counts.synchronized >= 3);
  // `back` lies in b's host staging memory; let it go so the count below starts from zero.
  BOOST_TEST(counts.live_host_blocks == 1);
  back = tensor();
  BOOST_TEST(counts.live_host_blocks == 0);

  {
    auto event = a->record();
    BOOST_TEST(counts.events_recorded >= 1);
    event->wait();
    BOOST_TEST(event->done());
    BOOST_TEST(counts.events_waited == 1);
  }
  BOOST_TEST(counts.events_destroyed == counts.events_recorded);

  {
    auto staging = a->allocate_staging(1000);
    BOOST_TEST(counts.live_host_blocks == 1);
    BOOST_TEST(reinterpret_cast<std::uintptr_t>(staging.data()) % 64 == 0u);
  }
  BOOST_TEST(counts.live_host_blocks == 0);

  const int bound_before = counts.threads_bound;
  a->bind_thread();
  BOOST_TEST(counts.threads_bound == bound_before + 1);

  BOOST_CHECK_EXCEPTION(
      a->gemm(gemm_args{}), std::invalid_argument, [](const std::invalid_argument& e) {
        return e.what() == std::string("device 'a' (kind test_host) has no matrix product");
      });
}

BOOST_AUTO_TEST_CASE(a_device_stays_open_and_its_library_loaded_while_a_buffer_lives) {
  const auto path = plugin_path("test_host_device");
  buffer survivor;
  const test_host_counts* counts = nullptr;
  {
    device_registry registry;
    registry.load_plugin(path);
    counts = &host_counts();
    auto device = registry.find("test_host")->open("a", values({{"label", std::string("x")}}), {});
    survivor = device->allocate(256);
    std::memset(survivor.data(), 0x5a, survivor.size());
  }
  // Registry and device are gone; the buffer still holds the handle, the handle the library.
  BOOST_TEST(library_loaded(path));
  BOOST_TEST(counts->opened - counts->closed == 1);
  BOOST_TEST(counts->live_blocks == 1);
  BOOST_TEST(static_cast<unsigned char>(survivor.data()[255]) == 0x5a);
  survivor = buffer();
  BOOST_TEST(!library_loaded(path));
}

}  // namespace loom
