// The device registry: the built-in cpu kind, refusing a kind registered twice, unknown kinds,
// plugins named in LOOM_DEVICE_PLUGIN_PATH; and `loom devices` (text, --json, --help) end to end.
#include <boost/test/unit_test.hpp>

#include <boost/property_tree/json_parser.hpp>
#include <boost/property_tree/ptree.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "devices/device_registry.hpp"
#include "process.hpp"

using namespace loom;
namespace pt = boost::property_tree;

namespace {

const std::string loom_bin = LOOM_EXECUTABLE;

// Sets LOOM_DEVICE_PLUGIN_PATH for one test (and the processes it starts), then restores it.
class plugin_path {
 public:
  explicit plugin_path(const std::string& value) {
    if (const char* old = std::getenv(name)) previous_ = old;
    setenv(name, value.c_str(), 1);
  }
  ~plugin_path() {
    if (previous_)
      setenv(name, previous_->c_str(), 1);
    else
      unsetenv(name);
  }

 private:
  static constexpr const char* name = "LOOM_DEVICE_PLUGIN_PATH";
  std::optional<std::string> previous_;
};

std::filesystem::path scratch_directory(const std::string& tag) {
  auto dir = std::filesystem::temp_directory_path() /
             ("loom-device-registry-" + tag + "-" + std::to_string(getpid()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

std::string standard_refusal() {
  try {
    device_registry::standard();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "no error";
}

device_kind kind_named(std::string kind, std::string origin) {
  device_kind k;
  k.kind = std::move(kind);
  k.origin = std::move(origin);
  k.summary = "a test kind";
  return k;
}

pt::ptree parse_json(const std::string& text) {
  std::istringstream in(text);
  pt::ptree tree;
  pt::read_json(in, tree);
  return tree;
}

}  // namespace

BOOST_AUTO_TEST_CASE(standard_registry_has_the_cpu_kind) {
  auto registry = device_registry::standard();
  const auto* cpu = registry.find("cpu");
  BOOST_TEST_REQUIRE(cpu != nullptr);
  BOOST_TEST(cpu->origin == "built-in");
  BOOST_TEST(!cpu->summary.empty());
  BOOST_TEST((cpu->describe && cpu->open && cpu->detect));
  auto kinds = registry.kinds();
  BOOST_TEST((std::find(kinds.begin(), kinds.end(), "cpu") != kinds.end()));
  BOOST_TEST(std::is_sorted(kinds.begin(), kinds.end()));
}

BOOST_AUTO_TEST_CASE(unknown_kinds_are_not_found) {
  auto registry = device_registry::standard();
  BOOST_TEST(registry.find("tpu") == nullptr);
  BOOST_TEST(registry.find("") == nullptr);
  BOOST_TEST(registry.find("CPU") == nullptr, "kinds are case-sensitive");
}

BOOST_AUTO_TEST_CASE(a_kind_registered_twice_is_refused_naming_both_origins) {
  device_registry registry;
  registry.add(kind_named("npu", "/opt/a/libloom_device_npu.so"));
  std::string message;
  try {
    registry.add(kind_named("npu", "/opt/b/libloom_device_npu.so"));
  } catch (const std::invalid_argument& e) {
    message = e.what();
  }
  BOOST_TEST(message.find("'npu'") != std::string::npos, message);
  BOOST_TEST(message.find("/opt/a/libloom_device_npu.so") != std::string::npos, message);
  BOOST_TEST(message.find("/opt/b/libloom_device_npu.so") != std::string::npos, message);
  BOOST_TEST(registry.find("npu")->origin == "/opt/a/libloom_device_npu.so", "the first one stays");

  auto standard = device_registry::standard();
  BOOST_CHECK_THROW(standard.add(kind_named("cpu", "a plugin")), std::invalid_argument);
}

BOOST_AUTO_TEST_CASE(plugin_path_naming_a_missing_file_fails_naming_it) {
  const std::string missing = "/nonexistent/loom/libloom_device_nope.so";
  plugin_path path("::" + missing + ":");
  auto message = standard_refusal();
  BOOST_TEST(message.find(missing) != std::string::npos, message);
}

BOOST_AUTO_TEST_CASE(plugin_path_directories_load_every_device_plugin_in_them) {
  auto empty = scratch_directory("empty");
  {
    // Nothing that looks like a device plugin: the standard kinds only.
    std::ofstream(empty / "libloom_stage_other.so") << "not a device plugin";
    std::ofstream(empty / "libloom_device_notes.txt") << "not a library";
    plugin_path path(empty.string());
    BOOST_TEST(standard_refusal() == "no error");
  }
  auto with_plugin = scratch_directory("with-plugin");
  auto fake = with_plugin / "libloom_device_fake.so";
  std::ofstream(fake) << "not a shared library";
  {
    plugin_path path(empty.string() + ":" + with_plugin.string());
    auto message = standard_refusal();
    BOOST_TEST(message.find(fake.string()) != std::string::npos, message);
  }
  std::filesystem::remove_all(empty);
  std::filesystem::remove_all(with_plugin);
}

BOOST_AUTO_TEST_CASE(loom_devices_lists_kinds_and_this_machine) {
  auto r = test::run_process({loom_bin, "devices"});
  BOOST_TEST_REQUIRE(r.exit_code == 0, r.err);
  auto has = [&](const std::string& text) { return r.out.find(text) != std::string::npos; };
  BOOST_TEST(has("Device kinds"), r.out);
  BOOST_TEST(has("  cpu "), r.out);
  BOOST_TEST(has("from built-in"), r.out);
  BOOST_TEST(has("gflops"), r.out);
  BOOST_TEST(has("cost_per_hour"), r.out);
  BOOST_TEST(has("This machine:"), r.out);
  BOOST_TEST(has("NUMA node 0"), r.out);
  BOOST_TEST(has("package 0"), r.out);
  BOOST_TEST(has("computes f32, bf16, f16"), r.out);
}

BOOST_AUTO_TEST_CASE(loom_devices_json_is_one_object) {
  auto r = test::run_process({loom_bin, "devices", "--json"});
  BOOST_TEST_REQUIRE(r.exit_code == 0, r.err);
  BOOST_TEST(r.out.find('\n') == r.out.size() - 1, "one line");
  auto tree = parse_json(r.out);

  bool cpu_kind = false;
  for (const auto& [unused, kind] : tree.get_child("kinds")) {
    if (kind.get<std::string>("kind") != "cpu") continue;
    cpu_kind = true;
    BOOST_TEST(kind.get<std::string>("origin") == "built-in");
    const auto& param = kind.get_child("params").front().second;
    BOOST_TEST(param.get<std::string>("key") == "gflops");
    BOOST_TEST(param.get<std::string>("type") == "number");
    BOOST_TEST(param.get<double>("default") == 0.0);
  }
  BOOST_TEST(cpu_kind);

  const auto& devices = tree.get_child("devices");
  BOOST_TEST_REQUIRE(!devices.empty());
  const auto& cpu = devices.front().second;
  BOOST_TEST(cpu.get<std::string>("kind") == "cpu");
  BOOST_TEST(cpu.get<std::string>("name") == "cpu");
  BOOST_TEST(cpu.get<std::string>("description").find("NUMA node") != std::string::npos);
  BOOST_TEST(!cpu.get_child("details").empty());
  BOOST_TEST(cpu.get<std::string>("caps.memory_space") == "cpu");
  BOOST_TEST(cpu.get<double>("caps.flops") > 0);
  BOOST_TEST(cpu.get<int>("caps.numa_node") == -1);
}

BOOST_AUTO_TEST_CASE(loom_devices_help_shows_a_devices_table) {
  auto r = test::run_process({loom_bin, "devices", "--help"});
  BOOST_TEST(r.exit_code == 0);
  BOOST_TEST(r.out.find("[devices.fast]") != std::string::npos, r.out);
  BOOST_TEST(r.out.find("LOOM_DEVICE_PLUGIN_PATH") != std::string::npos, r.out);
}

BOOST_AUTO_TEST_CASE(loom_devices_reports_a_bad_plugin_path) {
  const std::string missing = "/nonexistent/loom/libloom_device_gone.so";
  plugin_path path(missing);
  auto r = test::run_process({loom_bin, "devices"});
  BOOST_TEST(r.exit_code == 2);
  BOOST_TEST(r.err.find(missing) != std::string::npos, r.err);
}
