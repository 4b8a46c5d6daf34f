// examples/client end to end: `loom run examples/client/graph.toml --insecure` as a child process,
// loom_client against it; every result must come back, in order, equal to the request times the
// matmul's weights (recomputed here with a naive loop from the documented "random:SEED"
// formula), and the run must end by itself with exit 0 and the packet counts in its stats.
#include <boost/test/unit_test.hpp>

#include <boost/property_tree/json_parser.hpp>
#include <boost/property_tree/ptree.hpp>

#include <netinet/in.h>
#include <sys/socket.h>

#include <cmath>
#include <random>
#include <regex>

#include "process.hpp"

using loom::test::process_result;
using loom::test::run_process;
namespace pt = boost::property_tree;

namespace {

const std::string loom_bin = LOOM_EXECUTABLE;
const std::string graph = std::string(LOOM_SOURCE_DIR) + "/examples/client/graph.toml";

// examples/client/graph.toml's matmul, and loom_client's requests.
constexpr std::int64_t k = 256, n = 64, rows = 4;
constexpr std::uint64_t seed = 7;

// A TCP port nobody listens on right now (the kernel's pick for a socket bound to port 0).
int free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t size = sizeof address;
  ::bind(fd, reinterpret_cast<sockaddr*>(&address), size);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &size);
  ::close(fd);
  return ntohs(address.sin_port);
}

// A child process whose output goes to files; killed if it outlives the test's patience.
class child {
 public:
  explicit child(const std::vector<std::string>& args)
      : dir_(std::filesystem::temp_directory_path() /
             ("loom-client-test-" + std::to_string(getpid()) + "-" + std::to_string(counter_++))) {
    std::filesystem::create_directories(dir_);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 1, (dir_ / "out").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_addopen(&actions, 2, (dir_ / "err").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    std::vector<char*> argv;
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    if (posix_spawn(&pid_, argv[0], &actions, nullptr, argv.data(), environ) != 0)
      throw std::runtime_error("cannot start " + args[0]);
    posix_spawn_file_actions_destroy(&actions);
  }
  ~child() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
    std::filesystem::remove_all(dir_);
  }

  // Waits up to `patience`, then interrupts it (and kills it a second later).
  process_result wait(std::chrono::seconds patience) {
    int status = 0;
    const auto until = std::chrono::steady_clock::now() + patience;
    while (waitpid(pid_, &status, WNOHANG) == 0) {
      if (std::chrono::steady_clock::now() > until) {
        kill(pid_, SIGINT);
        std::this_thread::sleep_for(std::chrono::seconds(1));
        kill(pid_, SIGKILL);
        waitpid(pid_, &status, 0);
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    pid_ = 0;
    process_result r;
    r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    r.out = loom::test::slurp(dir_ / "out");
    r.err = loom::test::slurp(dir_ / "err");
    return r;
  }

 private:
  static inline int counter_ = 0;
  std::filesystem::path dir_;
  pid_t pid_ = 0;
};

// matmul's "random:SEED" weights, k×n row-major: 24-bit integers from mt19937_64 scaled into
// [-1/sqrt(k), 1/sqrt(k)] (stages/builtin/matmul.cpp).
std::vector<float> matmul_weights() {
  std::mt19937_64 generator(seed);
  const float bound = 1.0f / std::sqrt(static_cast<float>(k));
  std::vector<float> w(static_cast<std::size_t>(k * n));
  for (auto& value : w) {
    const float unit = static_cast<float>(generator() >> 40) / static_cast<float>(1 << 24);
    value = (2.0f * unit - 1.0f) * bound;
  }
  return w;
}

// loom_client's request i: row r, column c holds (i + 1) × ((r·k + c) mod 17 − 8) / 8.
double request_value(int i, std::int64_t r, std::int64_t c) {
  return (i + 1) * static_cast<double>((r * k + c) % 17 - 8) / 8.0;
}

struct row_sum {
  double value = 0;
  double magnitude = 0;  // Σ |out[r][j]|: the scale rounding errors are measured against
};

// The sums of each output row of request i, by a naive triple loop.
std::vector<row_sum> expected_row_sums(int i, const std::vector<float>& w) {
  std::vector<row_sum> sums(rows);
  for (std::int64_t r = 0; r < rows; ++r)
    for (std::int64_t j = 0; j < n; ++j) {
      double out = 0;
      for (std::int64_t c = 0; c < k; ++c) out += request_value(i, r, c) * w[c * n + j];
      sums[r].value += out;
      sums[r].magnitude += std::fabs(out);
    }
  return sums;
}

pt::ptree stats_of(const process_result& r) {
  std::istringstream in(r.last_line());
  pt::ptree tree;
  pt::read_json(in, tree);
  return tree;
}

// A stage counter of one replica: `"counters": {"NAME": [value]}` in the stats.
int counter(const pt::ptree& stats, const std::string& stage, const std::string& name) {
  const auto& values = stats.get_child("stages." + stage + ".counters." + name);
  return values.empty() ? -1 : values.front().second.get_value<int>();
}

}  // namespace

BOOST_AUTO_TEST_CASE(the_client_gets_every_result_back_from_loom_run) {
#ifndef LOOM_CLIENT_EXECUTABLE
  BOOST_TEST_MESSAGE("loom_client was not built (LOOM_BUILD_EXAMPLES=OFF): nothing to test");
#else
  const int count = 40;
  const int source_port = free_port();
  int sink_port = free_port();
  while (sink_port == source_port) sink_port = free_port();
  const std::string source = "tcp://127.0.0.1:" + std::to_string(source_port);
  const std::string sink = "tcp://127.0.0.1:" + std::to_string(sink_port);
  child loom({loom_bin, "run", graph, "--insecure", "--stats", "json",
              "--set", "requests.endpoint=\"" + source + "\"",
              "--set", "results.endpoint=\"" + sink + "\""});
  const auto client = run_process({LOOM_CLIENT_EXECUTABLE, "--insecure", "--count",
                                   std::to_string(count), "--source", source, "--sink", sink});
  const auto run = loom.wait(std::chrono::seconds(15));
  BOOST_TEST_REQUIRE(client.exit_code == 0, "client: " << client.err << "\nloom: " << run.err);
  BOOST_TEST_REQUIRE(run.exit_code == 0, run.err);

  // One line per result, in order: "result I: data [4, 64] f32, ... row sums S0 S1 S2 S3".
  const std::regex line(R"(result (\d+): data \[4, 64\] f32, [0-9.]+ ms round trip, row sums (\S+) (\S+) (\S+) (\S+))");
  const auto w = matmul_weights();
  std::istringstream out(client.out);
  std::string text;
  int seen = 0;
  while (std::getline(out, text)) {
    std::smatch m;
    if (!std::regex_match(text, m, line)) continue;
    BOOST_TEST_REQUIRE(std::stoi(m[1]) == seen);
    const auto expected = expected_row_sums(seen, w);
    for (std::size_t r = 0; r < expected.size(); ++r)
      BOOST_TEST(std::fabs(std::stod(m[2 + r]) - expected[r].value) <=
                     1e-4 * (1.0 + expected[r].magnitude),
                 "result " << seen << " row " << r << ": " << m[2 + r] << " != "
                           << expected[r].value);
    ++seen;
  }
  BOOST_TEST(seen == count, client.out);
  BOOST_TEST(client.out.find("OK") != std::string::npos);

  const auto stats = stats_of(run);
  BOOST_TEST(stats.get<int>("stages.requests.packets_out") == count);
  BOOST_TEST(stats.get<int>("stages.project.packets_in") == count);
  BOOST_TEST(stats.get<int>("stages.project.packets_out") == count);
  BOOST_TEST(stats.get<int>("sinks.results.packets") == count);
  BOOST_TEST(stats.get<long>("sinks.results.bytes") == count * rows * n * 4);
  BOOST_TEST(stats.get<int>("stages.project.errors") == 0);
  BOOST_TEST(counter(stats, "requests", "wire_packets_received") == count);
  BOOST_TEST(counter(stats, "results", "wire_packets_sent") == count);
  BOOST_TEST(counter(stats, "requests", "refused_frames") == 0);
  BOOST_TEST(client.out.find("[INSECURE]") != std::string::npos);
#endif
}

BOOST_AUTO_TEST_CASE(the_client_refuses_to_run_without_keys_or_insecure) {
#ifdef LOOM_CLIENT_EXECUTABLE
  const auto client = run_process({LOOM_CLIENT_EXECUTABLE, "--count", "1"});
  BOOST_TEST(client.exit_code == 1);
  BOOST_TEST(client.err.find("refusing to connect without CURVE keys") != std::string::npos,
             client.err);
#endif
}
