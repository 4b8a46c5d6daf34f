// The plugin loader (stages/plugin_loader.hpp) against the libraries of tests/plugins/: the good
// plugin registers its types with the file as their origin, and every way a library can be
// refused throws plugin_error with its exact message, leaving the registry as it was. Also the
// test stage types that good_plugin provides for runtime tests.
#include <boost/test/unit_test.hpp>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "stages/plugin_abi.h"
#include "stages/plugin_loader.hpp"

namespace loom {
namespace {

const std::string plugin_dir = std::string(LOOM_BINARY_DIR) + "/tests/plugins";

std::string plugin_path(const std::string& name) { return plugin_dir + "/lib" + name + ".so"; }

// What load_plugin threw; a marker that fails any comparison when it threw nothing.
std::string load_error(const std::string& path, stage_registry& registry) {
  try {
    load_plugin(path, registry);
  } catch (const plugin_error& e) {
    return e.what();
  }
  return "(loaded without error)";
}

std::vector<std::string> type_names(const stage_registry& registry) {
  std::vector<std::string> names;
  for (const auto* spec : registry.all()) names.push_back(spec->type);
  return names;
}

// Every declared parameter: the given values, defaults for the rest.
param_values values_for(const stage_spec& spec,
                        std::map<std::string, param_value, std::less<>> values = {}) {
  for (const auto& p : spec.params) values.try_emplace(p.key, *p.default_value);
  return param_values(std::move(values));
}

packet_ptr packet_with_sequence(std::uint64_t sequence) {
  packet p;
  p.sequence = sequence;
  return std::make_shared<const packet>(std::move(p));
}

}  // namespace

BOOST_AUTO_TEST_CASE(good_plugin_registers_its_types_with_the_file_as_origin) {
  auto registry = stage_registry::with_builtins();
  auto path = plugin_path("good_plugin");
  load_plugin(path, registry);
  BOOST_REQUIRE(registry.find("test_faulty") != nullptr);
  BOOST_REQUIRE(registry.find("test_record") != nullptr);
  BOOST_TEST(registry.origin("test_faulty") == path);
  BOOST_TEST(registry.origin("test_record") == path);
  BOOST_TEST(registry.origin("passthrough") == "built-in");
}

BOOST_AUTO_TEST_CASE(loading_the_same_file_again_is_harmless) {
  auto registry = stage_registry::with_builtins();
  auto path = plugin_path("good_plugin");
  load_plugin(path, registry);
  auto before = type_names(registry);
  load_plugin(path, registry);
  // The same file by another spelling is still the same plugin.
  load_plugin(plugin_dir + "/../plugins/libgood_plugin.so", registry);
  BOOST_TEST(type_names(registry) == before, boost::test_tools::per_element());
  BOOST_TEST(registry.origin("test_faulty") == path);
}

BOOST_AUTO_TEST_CASE(each_registry_gets_the_plugin_types) {
  auto path = plugin_path("good_plugin");
  stage_registry first, second;
  load_plugin(path, first);
  load_plugin(path, second);
  BOOST_TEST(first.find("test_faulty") != nullptr);
  BOOST_TEST(second.find("test_faulty") != nullptr);
}

BOOST_AUTO_TEST_CASE(a_relative_path_is_refused) {
  stage_registry registry;
  BOOST_TEST(load_error("tests/plugins/libgood_plugin.so", registry) ==
             "plugin tests/plugins/libgood_plugin.so: path must be absolute");
}

BOOST_AUTO_TEST_CASE(a_missing_file_is_refused) {
  stage_registry registry;
  auto path = plugin_path("no_such_plugin");
  BOOST_TEST(load_error(path, registry) == "plugin " + path + ": no such file");
}

BOOST_AUTO_TEST_CASE(a_directory_is_refused) {
  stage_registry registry;
  BOOST_TEST(load_error(plugin_dir, registry) == "plugin " + plugin_dir + ": not a regular file");
}

BOOST_AUTO_TEST_CASE(a_file_that_is_not_a_library_is_refused) {
  stage_registry registry;
  auto path = plugin_dir + "/not_a_library.so";
  // Longer than an ELF header, so that the dynamic loader reads the header and rejects it.
  std::ofstream(path) << "This is a text file that happens to have the name of a shared library.\n";
  BOOST_TEST(load_error(path, registry) ==
             "plugin " + path + ": not a loadable shared library (" + path +
                 ": invalid ELF header)");
  std::filesystem::remove(path);
}

BOOST_AUTO_TEST_CASE(a_library_for_another_abi_version_is_refused_before_anything_runs) {
  stage_registry registry;
  auto path = plugin_path("wrong_abi_plugin");
  BOOST_TEST(load_error(path, registry) ==
             "plugin " + path + ": built for plugin ABI version " +
                 std::to_string(LOOM_PLUGIN_ABI_VERSION + 1) + ", this loom speaks version " +
                 std::to_string(LOOM_PLUGIN_ABI_VERSION) + "; rebuild it against this loom");
}

BOOST_AUTO_TEST_CASE(a_library_without_a_registration_function_is_refused) {
  stage_registry registry;
  auto path = plugin_path("no_register_plugin");
  BOOST_TEST(load_error(path, registry) ==
             "plugin " + path + ": missing symbol loom_plugin_register");
}

BOOST_AUTO_TEST_CASE(a_library_without_a_version_is_refused_before_anything_runs) {
  stage_registry registry;
  auto path = plugin_path("no_version_plugin");
  BOOST_TEST(load_error(path, registry) ==
             "plugin " + path +
                 ": missing symbol loom_plugin_abi_version (is it a loom plugin? use LOOM_PLUGIN "
                 "from stages/plugin.hpp)");
}

BOOST_AUTO_TEST_CASE(a_failed_registration_is_reported_and_leaves_the_registry_unchanged) {
  auto registry = stage_registry::with_builtins();
  auto before = type_names(registry);
  auto path = plugin_path("failing_register_plugin");
  BOOST_TEST(load_error(path, registry) ==
             "plugin " + path + ": registration failed: refused on purpose");
  BOOST_TEST(type_names(registry) == before, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(a_type_name_already_taken_is_refused_and_nothing_is_added) {
  auto registry = stage_registry::with_builtins();
  auto taken = *registry.find("passthrough");
  taken.type = "test_faulty";
  registry.add(taken);
  auto before = type_names(registry);
  auto path = plugin_path("good_plugin");
  BOOST_TEST(load_error(path, registry) ==
             "plugin " + path + ": stage type 'test_faulty' is already registered (by built-in)");
  BOOST_TEST(type_names(registry) == before, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(test_faulty_throws_where_its_parameters_say) {
  stage_registry registry;
  load_plugin(plugin_path("good_plugin"), registry);
  const auto& spec = *registry.find("test_faulty");

  stage_context ctx("flaky", spec,
                    values_for(spec, {{"fail_every", std::int64_t{3}},
                                      {"fail_sequences", std::vector<std::int64_t>{1}}}));
  auto flaky = spec.make();
  flaky->open(ctx);
  std::vector<std::uint64_t> forwarded;
  std::vector<std::string> failures;
  for (std::uint64_t sequence = 0; sequence < 7; ++sequence) {
    ctx.set_input(0, packet_with_sequence(sequence));
    try {
      flaky->process(ctx);
    } catch (const std::runtime_error& e) {
      failures.push_back(e.what());
    }
  }
  for (const auto& [port, p] : ctx.emitted()) forwarded.push_back(p->sequence);
  BOOST_TEST(forwarded == (std::vector<std::uint64_t>{0, 3, 4, 6}),
             boost::test_tools::per_element());
  BOOST_TEST(failures == (std::vector<std::string>{"test_faulty: injected failure at sequence 1",
                                                   "test_faulty: injected failure at sequence 2",
                                                   "test_faulty: injected failure at sequence 5"}),
             boost::test_tools::per_element());

  stage_context failing_open("broken", spec, values_for(spec, {{"fail_open", true}}));
  BOOST_CHECK_THROW(spec.make()->open(failing_open), std::runtime_error);
}

BOOST_AUTO_TEST_CASE(test_faulty_fails_everything_after_fail_after) {
  stage_registry registry;
  load_plugin(plugin_path("good_plugin"), registry);
  const auto& spec = *registry.find("test_faulty");
  stage_context ctx("tired", spec, values_for(spec, {{"fail_after", std::int64_t{2}}}));
  auto tired = spec.make();
  tired->open(ctx);
  int failures = 0;
  for (std::uint64_t sequence = 0; sequence < 5; ++sequence) {
    ctx.set_input(0, packet_with_sequence(sequence));
    try {
      tired->process(ctx);
    } catch (const std::runtime_error&) {
      ++failures;
    }
  }
  BOOST_TEST(ctx.emitted().size() == 2u);
  BOOST_TEST(failures == 3);
}

BOOST_AUTO_TEST_CASE(test_record_writes_every_packet) {
  stage_registry registry;
  load_plugin(plugin_path("good_plugin"), registry);
  const auto& spec = *registry.find("test_record");
  auto path = plugin_dir + "/test_record.txt";
  stage_context ctx("record", spec, values_for(spec, {{"path", path}}));
  auto record = spec.make();
  record->open(ctx);
  for (std::uint64_t sequence : {4, 5, 7}) {
    ctx.set_input(0, packet_with_sequence(sequence));
    record->process(ctx);
  }
  std::ifstream in(path);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  BOOST_TEST(text == "0 4\n0 5\n0 7\n");
  record->close(ctx);
  std::filesystem::remove(path);
}

}  // namespace loom
