// `loom keygen` end to end: it writes NAME.key (mode 0600) and NAME.pub that read back as one
// CURVE pair, says where they went and what to do with them, refuses to replace a pair without
// --force, refuses names that are paths, and its --help teaches the setup.
#include <boost/test/unit_test.hpp>

#include <sys/stat.h>

#include <filesystem>

#include <zmq.h>

#include "connectors/curve_keys.hpp"
#include "process.hpp"

namespace fs = std::filesystem;
using loom::test::process_result;

namespace {

process_result run_loom(std::vector<std::string> args) {
  args.insert(args.begin(), LOOM_EXECUTABLE);
  return loom::test::run_process(args);
}

struct temp_dir {
  fs::path path = fs::temp_directory_path() / ("loom-keygen-" + std::to_string(getpid()));
  temp_dir() {
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~temp_dir() { fs::remove_all(path); }
};

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

}  // namespace

BOOST_AUTO_TEST_CASE(keygen_writes_a_pair_and_says_what_to_do_with_it) {
  temp_dir dir;
  auto out = dir.path / "keys";
  auto r = run_loom({"keygen", "--out", out.string(), "gpu-1"});
  BOOST_TEST_REQUIRE(r.exit_code == 0, r.err);

  auto key_file = out / "gpu-1.key", pub_file = out / "gpu-1.pub";
  struct stat info {};
  BOOST_REQUIRE_EQUAL(::stat(key_file.c_str(), &info), 0);
  BOOST_TEST((info.st_mode & 0777) == 0600u);
  auto pair = loom::read_key_pair(key_file);
  BOOST_TEST(loom::read_public_key(pub_file) == pair.public_key);
  char derived[41] = {};  // independently: the public key libzmq derives from the secret one
  BOOST_REQUIRE_EQUAL(zmq_curve_public(derived, pair.secret_key.c_str()), 0);
  BOOST_TEST(pair.public_key == derived);
  BOOST_TEST(!contains(loom::test::slurp(pub_file), pair.secret_key));

  BOOST_TEST(contains(r.out, key_file.string()), r.out);
  BOOST_TEST(contains(r.out, pub_file.string()), r.out);
  BOOST_TEST(contains(r.out, "allow-list folder"), r.out);
  BOOST_TEST(!contains(r.out, pair.secret_key), "the secret key must not be printed");
}

BOOST_AUTO_TEST_CASE(keygen_replaces_a_pair_only_with_force) {
  temp_dir dir;
  BOOST_TEST_REQUIRE(run_loom({"keygen", "--out", dir.path.string(), "node"}).exit_code == 0);
  auto first = loom::read_key_pair(dir.path / "node.key");

  auto again = run_loom({"keygen", "--out", dir.path.string(), "node"});
  BOOST_TEST(again.exit_code == 1);
  BOOST_TEST(contains(again.err, "already exists"), again.err);
  BOOST_TEST(contains(again.err, "--force"), again.err);
  BOOST_TEST(loom::read_key_pair(dir.path / "node.key").secret_key == first.secret_key);

  auto forced = run_loom({"keygen", "--out", dir.path.string(), "--force", "node"});
  BOOST_TEST_REQUIRE(forced.exit_code == 0, forced.err);
  auto second = loom::read_key_pair(dir.path / "node.key");
  BOOST_TEST(second.secret_key != first.secret_key);
  BOOST_TEST(loom::read_public_key(dir.path / "node.pub") == second.public_key);
}

BOOST_AUTO_TEST_CASE(keygen_writes_to_the_working_directory_by_default) {
  temp_dir dir;
  auto previous = fs::current_path();
  fs::current_path(dir.path);
  auto r = run_loom({"keygen", "edge"});
  fs::current_path(previous);
  BOOST_TEST_REQUIRE(r.exit_code == 0, r.err);
  BOOST_TEST(fs::is_regular_file(dir.path / "edge.key"));
  BOOST_TEST(fs::is_regular_file(dir.path / "edge.pub"));
}

BOOST_AUTO_TEST_CASE(keygen_refuses_bad_names_and_missing_ones) {
  temp_dir dir;
  auto r = run_loom({"keygen", "--out", dir.path.string(), "../escape"});
  BOOST_TEST(r.exit_code == 2);
  BOOST_TEST(contains(r.err, "key name '../escape'"), r.err);
  BOOST_TEST(fs::is_empty(dir.path));
  BOOST_TEST(!fs::exists(dir.path.parent_path() / "escape.key"));

  BOOST_TEST(run_loom({"keygen"}).exit_code == 2);
}

BOOST_AUTO_TEST_CASE(keygen_help_teaches_the_setup) {
  auto r = run_loom({"keygen", "--help"});
  BOOST_TEST_REQUIRE(r.exit_code == 0, r.err);
  for (const auto* part : {"--out", "--force", "NAME.key", "NAME.pub", "allow-list folder", "--insecure",
                           "loom keygen gpu1"})
    BOOST_TEST(contains(r.out, part), part << " missing from:\n" << r.out);
  auto top = run_loom({"--help"});
  BOOST_TEST(contains(top.out, "keygen"), top.out);
}
