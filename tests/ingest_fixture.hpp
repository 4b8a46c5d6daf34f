// Shared by the ingest stage tests: a scratch directory, media made there with the ffmpeg CLI
// (lavfi test sources), and a registry with a "collect" sink that keeps every packet it gets.
#pragma once

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

#include "runtime_fixture.hpp"

namespace loom::test {

struct collected {
  std::mutex mutex;
  std::vector<packet_ptr> packets;
};

class collect_sink final : public stage {
 public:
  explicit collect_sink(std::shared_ptr<collected> c) : c_(std::move(c)) {}
  void process(stage_context& ctx) override {
    std::lock_guard lock(c_->mutex);
    c_->packets.push_back(ctx.input_ptr());
  }

 private:
  std::shared_ptr<collected> c_;
};

struct ingest_fixture {
  stage_registry registry = stage_registry::with_builtins();
  std::shared_ptr<collected> got = std::make_shared<collected>();
  std::filesystem::path dir;

  ingest_fixture() {
    stage_spec c;
    c.type = "collect";
    c.inputs = {{"in", "", {}}};
    c.make = [got = got] { return std::make_unique<collect_sink>(got); };
    registry.add(c, "test");
    static int counter = 0;
    dir = std::filesystem::temp_directory_path() /
          ("loom-ingest-" + std::to_string(getpid()) + "-" + std::to_string(++counter));
    std::filesystem::create_directories(dir);
  }
  ~ingest_fixture() {
    std::error_code ignored;
    std::filesystem::remove_all(dir, ignored);
  }

  std::string path(const std::string& name) const { return (dir / name).string(); }

  // Runs `ffmpeg -v error -y ARGS OUTPUT` and returns the output's path.
  std::string ffmpeg(const std::string& args, const std::string& output) const {
    auto out = path(output);
    auto command = "ffmpeg -nostdin -v error -y " + args + " '" + out + "'";
    if (std::system(command.c_str()) != 0) throw std::runtime_error("failed: " + command);
    return out;
  }

  ran run(const std::string& stages) {
    return run_text("[graph]\nname = \"ingest\"\nversion = 1\n" + stages, registry);
  }

  std::vector<packet_ptr> packets() {
    std::lock_guard lock(got->mutex);
    return got->packets;
  }
};

inline std::string joined(const std::vector<std::string>& lines) {
  std::string all;
  for (const auto& l : lines) all += l + "\n";
  return all;
}

}  // namespace loom::test
