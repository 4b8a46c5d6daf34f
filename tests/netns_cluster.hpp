// Several "machines" on one host for multi-node tests: network namespaces joined by veth pairs
// to a bridge that lives in a namespace of its own (so the host's firewall never sees the
// traffic). Machine i (0, 1, ...) has address 10.77.0.(i+1) on its eth0. Needs root and
// iproute2; everything is removed again when the cluster goes out of scope.
//
//   netns_cluster cluster(4);
//   auto node = cluster.start(1, {loom, "node", "--listen", "tcp://*:7000", "--insecure"});
//   auto run = cluster.run(0, {loom, "run", "graph.toml", "--insecure"});
#pragma once

#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <fcntl.h>

#include "process.hpp"

namespace loom::test {

// Root with iproute2, and a kernel (or container) that lets it make a network namespace.
inline bool can_make_namespaces() {
  if (geteuid() != 0 || !(std::filesystem::exists("/usr/sbin/ip") || std::filesystem::exists("/sbin/ip")))
    return false;
  auto probe = "lmprobe" + std::to_string(getpid());
  bool made = std::system(("ip netns add " + probe + " 2>/dev/null").c_str()) == 0;
  if (made) std::system(("ip netns del " + probe).c_str());
  return made;
}

// A child process running in the background, its output going to files.
class background_process {
 public:
  explicit background_process(const std::vector<std::string>& args) {
    dir_ = std::filesystem::temp_directory_path() /
           ("loom-bg-" + std::to_string(getpid()) + "-" +
            std::to_string(std::chrono::steady_clock::now().time_since_epoch().count()));
    std::filesystem::create_directories(dir_);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 1, (dir_ / "out").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_addopen(&actions, 2, (dir_ / "err").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    std::vector<char*> argv;
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    if (posix_spawnp(&pid_, argv[0], &actions, nullptr, argv.data(), environ) != 0)
      throw std::runtime_error("cannot start " + args[0]);
    posix_spawn_file_actions_destroy(&actions);
  }
  ~background_process() {
    if (!result_) {
      kill(pid_, SIGKILL);
      wait();
    }
    std::filesystem::remove_all(dir_);
  }
  background_process(const background_process&) = delete;
  background_process& operator=(const background_process&) = delete;

  void signal(int sig) { kill(pid_, sig); }

  // Waits for the process to end, at most `limit`; none if it is still running then.
  std::optional<process_result> wait(std::chrono::milliseconds limit = std::chrono::hours(1)) {
    if (result_) return result_;
    auto deadline = std::chrono::steady_clock::now() + limit;
    int status = 0;
    for (;;) {
      pid_t done = waitpid(pid_, &status, WNOHANG);
      if (done == pid_) break;
      if (std::chrono::steady_clock::now() > deadline) return std::nullopt;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    process_result r;
    r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    r.out = slurp(dir_ / "out");
    r.err = slurp(dir_ / "err");
    result_ = r;
    return result_;
  }

  // What it has written to standard error so far.
  std::string err_so_far() const { return slurp(dir_ / "err"); }

 private:
  pid_t pid_ = 0;
  std::filesystem::path dir_;
  std::optional<process_result> result_;
};

class netns_cluster {
 public:
  explicit netns_cluster(int machines)
      : prefix_("lm" + std::to_string(getpid() % 100000)), machines_(machines) {
    try {
      build();
    } catch (...) {
      remove();
      throw;
    }
  }
  ~netns_cluster() { remove(); }
  netns_cluster(const netns_cluster&) = delete;
  netns_cluster& operator=(const netns_cluster&) = delete;

  static std::string address(int machine) { return "10.77.0." + std::to_string(machine + 1); }

  // `args` running on `machine`, in the background.
  std::unique_ptr<background_process> start(int machine, std::vector<std::string> args) const {
    return std::make_unique<background_process>(in(machine, std::move(args)));
  }
  // `args` on `machine`, to the end.
  process_result run(int machine, std::vector<std::string> args) const {
    return run_process(in(machine, std::move(args)));
  }

 private:
  void build() {
    remove();  // what a crashed run of this process id may have left
    ip("netns add " + name("sw"));
    ip("-n " + name("sw") + " link add name switch type bridge");
    ip("-n " + name("sw") + " link set switch up");
    ip("-n " + name("sw") + " link set lo up");
    for (int i = 0; i < machines_; ++i) {
      auto ns = name(std::to_string(i));
      ip("netns add " + ns);
      ip("link add p" + std::to_string(i) + " netns " + name("sw") + " type veth peer name eth0 netns " + ns);
      ip("-n " + name("sw") + " link set p" + std::to_string(i) + " master switch up");
      ip("-n " + ns + " addr add " + address(i) + "/24 dev eth0");
      ip("-n " + ns + " link set eth0 up");
      ip("-n " + ns + " link set lo up");
    }
  }
  void remove() const {
    for (int i = 0; i < machines_; ++i)
      std::system((ip_binary() + " netns del " + name(std::to_string(i)) + " 2>/dev/null").c_str());
    std::system((ip_binary() + " netns del " + name("sw") + " 2>/dev/null").c_str());
  }

  std::vector<std::string> in(int machine, std::vector<std::string> args) const {
    std::vector<std::string> full{ip_binary(), "netns", "exec", name(std::to_string(machine))};
    full.insert(full.end(), args.begin(), args.end());
    return full;
  }
  static std::string ip_binary() {
    return std::filesystem::exists("/usr/sbin/ip") ? "/usr/sbin/ip" : "/sbin/ip";
  }
  std::string name(const std::string& suffix) const { return prefix_ + "-" + suffix; }
  static void ip(const std::string& command) {
    auto line = ip_binary() + " " + command;
    if (std::system(line.c_str()) != 0) throw std::runtime_error("failed: " + line);
  }

  std::string prefix_;
  int machines_;
};

}  // namespace loom::test
