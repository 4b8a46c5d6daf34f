// video_source end to end through the runtime, on media the tests make with ffmpeg's lavfi
// sources: frame counts and timestamps at odd rates, fps sampling, pixel values after
// conversion, clips, a live HTTP stream from 127.0.0.1, and truncated, corrupt and missing files.
#include <boost/test/unit_test.hpp>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <chrono>
#include <cmath>
#include <fstream>
#include <random>
#include <thread>

#include <fmt/format.h>

#include "ingest_fixture.hpp"

using namespace loom;
using loom::test::ingest_fixture;

extern char** environ;

namespace {

const std::string* meta(const packet_ptr& p, std::string_view key) { return p->meta(key); }

// A lossless RGB video of one colour: raw rgb24 frames written here, so that nothing on the
// way (no YUV step) changes a value, encoded as FFV1 in Matroska.
std::string solid_video(const ingest_fixture& f, std::uint8_t r, std::uint8_t g, std::uint8_t b,
                        int width, int height, int frames, const std::string& name) {
  auto raw = f.path(name + ".rgb");
  {
    std::ofstream out(raw, std::ios::binary);
    for (int i = 0; i < width * height * frames; ++i) {
      out.put(static_cast<char>(r));
      out.put(static_cast<char>(g));
      out.put(static_cast<char>(b));
    }
  }
  return f.ffmpeg(
      fmt::format("-f rawvideo -pix_fmt rgb24 -s {}x{} -r 25 -i '{}' -c:v ffv1 -pix_fmt bgr0",
                  width, height, raw),
      name);
}

std::string graph(const std::string& settings, const std::string& edge = "\"v.out\"") {
  return "[stages.v]\ntype = \"video_source\"\n" + settings +
         "\n[stages.sink]\ntype = \"collect\"\ninputs.in = " + edge + "\n";
}

// Every kept frame index of `frames` frames at rate num/den when sampling `fps` per second:
// the first frame of each 1/fps interval.
std::vector<std::int64_t> sampled(std::int64_t frames, std::int64_t num, std::int64_t den,
                                  std::int64_t fps) {
  std::vector<std::int64_t> kept;
  std::int64_t next = 0;
  for (std::int64_t i = 0; i < frames; ++i) {
    std::int64_t slot = i * den * fps / num;
    if (slot >= next) {
      kept.push_back(i);
      next = slot + 1;
    }
  }
  return kept;
}

// `python3 -m http.server` serving `dir` on a free port of 127.0.0.1, killed when it goes.
class http_server {
 public:
  explicit http_server(const std::filesystem::path& dir) {
    port_ = free_port();
    auto port = std::to_string(port_);
    auto d = dir.string();
    std::vector<std::string> args = {"/usr/bin/python3", "-m", "http.server", "--bind", "127.0.0.1",
                                     "--directory",      d,    port};
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
    int rc = posix_spawn(&pid_, argv[0], &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0) throw std::runtime_error("cannot start python3 -m http.server");
    for (int i = 0; i < 100 && !accepts(); ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ~http_server() {
    kill(pid_, SIGTERM);
    int status = 0;
    waitpid(pid_, &status, 0);
  }
  int port() const { return port_; }

 private:
  static int free_port() {
    int s = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a);
    socklen_t len = sizeof a;
    getsockname(s, reinterpret_cast<sockaddr*>(&a), &len);
    close(s);
    return ntohs(a.sin_port);
  }
  bool accepts() const {
    int s = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<std::uint16_t>(port_));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bool ok = connect(s, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
    close(s);
    return ok;
  }
  pid_t pid_ = 0;
  int port_ = 0;
};

// Serves one file over HTTP/1.1 from 127.0.0.1 on a thread: the first connection gets the
// headers for the whole file but only its first half before the socket closes (a dropped
// stream); later connections get all of it.
class dropping_server {
 public:
  explicit dropping_server(std::string body) : body_(std::move(body)) {
    listener_ = socket(AF_INET, SOCK_STREAM, 0);
    int on = 1;
    setsockopt(listener_, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(listener_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
        listen(listener_, 4) != 0)
      throw std::runtime_error("cannot listen on 127.0.0.1");
    socklen_t len = sizeof a;
    getsockname(listener_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] { serve(); });
  }
  ~dropping_server() {
    stop_ = true;
    thread_.join();
    close(listener_);
  }
  int port() const { return port_; }
  int connections() const { return connections_; }

 private:
  void serve() {
    while (!stop_) {
      pollfd p{listener_, POLLIN, 0};
      if (poll(&p, 1, 50) <= 0) continue;
      int c = accept(listener_, nullptr, nullptr);
      if (c < 0) continue;
      std::string request;
      char chunk[1024];
      while (request.find("\r\n\r\n") == std::string::npos) {
        auto n = recv(c, chunk, sizeof chunk, 0);
        if (n <= 0) break;
        request.append(chunk, static_cast<std::size_t>(n));
      }
      auto head =
          fmt::format("HTTP/1.1 200 OK\r\nContent-Type: video/mp2t\r\nContent-Length: {}\r\n\r\n",
                      body_.size());
      std::size_t size = ++connections_ == 1 ? body_.size() / 2 : body_.size();
      send_all(c, head.data(), head.size());
      send_all(c, body_.data(), size);
      close(c);
    }
  }
  static void send_all(int c, const char* data, std::size_t size) {
    while (size > 0) {
      auto n = send(c, data, size, MSG_NOSIGNAL);
      if (n <= 0) return;
      data += n;
      size -= static_cast<std::size_t>(n);
    }
  }
  std::string body_;
  int listener_ = -1, port_ = 0;
  std::atomic<int> connections_{0};
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace

BOOST_FIXTURE_TEST_CASE(every_frame_of_a_29_97_fps_file_arrives_with_its_timestamp,
                        ingest_fixture) {
  auto file = ffmpeg(
      "-f lavfi -i testsrc2=size=64x48:rate=30000/1001 -frames:v 25 -c:v libx264 "
      "-pix_fmt yuv420p",
      "ntsc.mp4");
  auto r = run(graph(fmt::format("uri = '{}'", file)));
  BOOST_TEST((r.result.status == run_result::outcome::completed));
  auto got = packets();
  BOOST_REQUIRE_EQUAL(got.size(), 25u);
  for (std::size_t i = 0; i < got.size(); ++i) {
    BOOST_TEST(got[i]->sequence == i);
    BOOST_TEST(got[i]->timestamp_us == std::llround(static_cast<double>(i) * 1001e6 / 30000));
    BOOST_TEST(*meta(got[i], "time_base") == "1/30000");
    BOOST_TEST(*meta(got[i], "pts") == std::to_string(i * 1001));
    BOOST_TEST(*meta(got[i], "uri") == file);
    const auto& image = got[i]->at("image");
    BOOST_TEST((image.type() == dtype::u8));
    BOOST_TEST(to_string(image.shape()) == to_string(shape_t{48, 64, 3}));
  }
  BOOST_TEST(r.result.stats.stages.at("v").errors == 0u);
  BOOST_TEST(r.result.stats.bytes_copied == 0u);
}

BOOST_FIXTURE_TEST_CASE(fps_keeps_the_first_frame_of_each_interval_at_23_976, ingest_fixture) {
  auto file = ffmpeg(
      "-f lavfi -i testsrc2=size=64x48:rate=24000/1001 -frames:v 30 -c:v libx264 "
      "-pix_fmt yuv420p",
      "film.mp4");
  auto r = run(graph(fmt::format("uri = '{}'\nfps = 10", file)));
  BOOST_TEST((r.result.status == run_result::outcome::completed));
  auto kept = sampled(30, 24000, 1001, 10);
  BOOST_TEST(kept.size() == 13u);
  auto got = packets();
  BOOST_REQUIRE_EQUAL(got.size(), kept.size());
  for (std::size_t k = 0; k < kept.size(); ++k) {
    BOOST_TEST(got[k]->sequence == k);
    BOOST_TEST(got[k]->timestamp_us == std::llround(static_cast<double>(kept[k]) * 1001e6 / 24000));
  }
}

BOOST_FIXTURE_TEST_CASE(a_lossless_solid_colour_converts_to_exact_rgb, ingest_fixture) {
  auto file = solid_video(*this, 0x20, 0x40, 0x60, 32, 24, 3, "solid.mkv");
  auto r = run(graph(fmt::format("uri = '{}'", file)));
  auto got = packets();
  BOOST_REQUIRE_EQUAL(got.size(), 3u);
  const auto& image = got[0]->at("image");
  BOOST_TEST(to_string(image.shape()) == to_string(shape_t{24, 32, 3}));
  const auto* px = image.data<std::uint8_t>();
  bool exact = true;
  for (std::int64_t i = 0; i < 24 * 32; ++i)
    exact = exact && px[3 * i] == 0x20 && px[3 * i + 1] == 0x40 && px[3 * i + 2] == 0x60;
  BOOST_TEST(exact);
}

BOOST_FIXTURE_TEST_CASE(f32_is_normalised_and_resized, ingest_fixture) {
  auto file = solid_video(*this, 0xFF, 0x80, 0x00, 64, 48, 2, "orange.mkv");
  auto r = run(graph(fmt::format("uri = '{}'\ndtype = 'f32'\nwidth = 16\nheight = 12", file)));
  auto got = packets();
  BOOST_REQUIRE_EQUAL(got.size(), 2u);
  const auto& image = got[1]->at("image");
  BOOST_TEST((image.type() == dtype::f32));
  BOOST_TEST(to_string(image.shape()) == to_string(shape_t{12, 16, 3}));
  const auto* px = image.data<float>();
  for (int i : {0, 12 * 16 / 2, 12 * 16 - 1}) {
    // A constant image stays constant through the bicubic resize, within one step.
    BOOST_TEST(std::abs(px[3 * i] - 1.0f) <= 1.0f / 255);
    BOOST_TEST(std::abs(px[3 * i + 1] - 128.0f / 255) <= 1.0f / 255);
    BOOST_TEST(std::abs(px[3 * i + 2]) <= 1.0f / 255);
  }
}

BOOST_FIXTURE_TEST_CASE(yuv_video_converts_within_codec_tolerance, ingest_fixture) {
  auto file = ffmpeg(
      "-f lavfi -i color=c=red:size=64x48:rate=25 -frames:v 2 -c:v libx264 -qp 0 "
      "-pix_fmt yuv444p",
      "red.mp4");
  auto r = run(graph(fmt::format("uri = '{}'", file)));
  auto got = packets();
  BOOST_REQUIRE_EQUAL(got.size(), 2u);
  const auto* px = got[0]->at("image").data<std::uint8_t>();
  BOOST_TEST(std::abs(px[0] - 255) <= 3);
  BOOST_TEST(px[1] <= 3);
  BOOST_TEST(px[2] <= 3);
}

BOOST_FIXTURE_TEST_CASE(clips_group_frames_and_the_last_one_is_short, ingest_fixture) {
  auto file = ffmpeg("-f lavfi -i testsrc2=size=32x24:rate=25 -frames:v 20 -c:v ffv1", "clips.mkv");
  auto r = run(graph(fmt::format("uri = '{}'\nclip = 8", file)));
  auto got = packets();
  BOOST_REQUIRE_EQUAL(got.size(), 3u);
  BOOST_TEST(to_string(got[0]->at("frames").shape()) == to_string(shape_t{8, 24, 32, 3}));
  BOOST_TEST(to_string(got[1]->at("frames").shape()) == to_string(shape_t{8, 24, 32, 3}));
  BOOST_TEST(to_string(got[2]->at("frames").shape()) == to_string(shape_t{4, 24, 32, 3}));
  BOOST_TEST(got[1]->timestamp_us == 8 * 40000);
  BOOST_TEST(*meta(got[2], "frame_timestamps_us") == "640000,680000,720000,760000");
}

BOOST_FIXTURE_TEST_CASE(a_truncated_file_delivers_what_decoded_then_one_error_then_ends,
                        ingest_fixture) {
  auto file = ffmpeg("-f lavfi -i testsrc2=size=160x120:rate=25 -frames:v 100 -c:v libx264 -g 10",
                     "cut.mkv");
  std::filesystem::resize_file(file, std::filesystem::file_size(file) / 2);
  auto r = run(graph(fmt::format("uri = '{}'", file)));
  BOOST_TEST((r.result.status == run_result::outcome::completed));
  auto got = packets();
  BOOST_TEST(got.size() > 20u);
  BOOST_TEST(got.size() < 100u);
  const auto& v = r.result.stats.stages.at("v");
  BOOST_TEST(v.errors == 1u);
  BOOST_TEST(v.restarts == 0u);
  BOOST_TEST(v.packets_out == got.size());
  auto log = test::joined(r.log);
  BOOST_TEST(log.find("stage 'v' (video_source)") != std::string::npos, log);
  BOOST_TEST(log.find(file) != std::string::npos, log);
  BOOST_TEST(log.find("ended early") != std::string::npos, log);
  BOOST_TEST(log.find(fmt::format("after frame {}", got.size())) != std::string::npos, log);
}

BOOST_FIXTURE_TEST_CASE(a_corrupt_file_fails_at_start_up_naming_it, ingest_fixture) {
  auto file = path("noise.mp4");
  {
    std::ofstream out(file, std::ios::binary);
    std::mt19937 rng(7);
    for (int i = 0; i < 65536; ++i) out.put(static_cast<char>(rng()));
  }
  auto r = run(graph(fmt::format("uri = '{}'", file)));
  BOOST_TEST((r.result.status == run_result::outcome::failed));
  BOOST_REQUIRE(!r.result.failures.empty());
  const auto& why = r.result.failures[0];
  BOOST_TEST(why.find("stage 'v' (video_source) failed to open") != std::string::npos, why);
  BOOST_TEST(why.find(file) != std::string::npos, why);
  BOOST_TEST(packets().empty());
}

BOOST_FIXTURE_TEST_CASE(a_missing_file_fails_at_start_up_naming_it, ingest_fixture) {
  auto file = path("nowhere.mp4");
  auto r = run(graph(fmt::format("uri = '{}'", file)));
  BOOST_TEST((r.result.status == run_result::outcome::failed));
  BOOST_REQUIRE(!r.result.failures.empty());
  BOOST_TEST(
      r.result.failures[0] ==
      fmt::format(
          "stage 'v' (video_source) failed to open: cannot open '{}': No such file or directory",
          file));
}

BOOST_FIXTURE_TEST_CASE(a_stream_over_http_is_ingested_live_at_real_time, ingest_fixture) {
  ffmpeg(
      "-f lavfi -i testsrc2=size=64x48:rate=30 -frames:v 30 -c:v libx264 -pix_fmt yuv420p "
      "-movflags +faststart",
      "live.mp4");
  http_server server(dir);
  auto start = std::chrono::steady_clock::now();
  auto r =
      run(graph(fmt::format("uri = 'http://127.0.0.1:{}/live.mp4'\nlive = true", server.port()),
                "{ from = \"v.out\", policy = \"drop_oldest\", capacity = 4 }"));
  auto took = std::chrono::steady_clock::now() - start;
  BOOST_TEST((r.result.status == run_result::outcome::completed), test::joined(r.log));
  auto got = packets();
  BOOST_TEST(got.size() == 30u);
  // 30 frames at 30 fps: the last is due 29/30 s after the first.
  BOOST_TEST(std::chrono::duration<double>(took).count() >= 0.9);
  for (std::size_t i = 1; i < got.size(); ++i)
    BOOST_TEST(got[i]->timestamp_us > got[i - 1]->timestamp_us);
  BOOST_TEST(r.result.stats.stages.at("v").errors == 0u);
}

BOOST_FIXTURE_TEST_CASE(a_dropped_live_stream_reconnects_and_reports_the_gap, ingest_fixture) {
  auto file = ffmpeg(
      "-f lavfi -i testsrc2=size=64x48:rate=30 -frames:v 30 -c:v libx264 -g 5 "
      "-pix_fmt yuv420p -f mpegts",
      "live.ts");
  std::ifstream in(file, std::ios::binary);
  std::string body((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  dropping_server server(body);
  auto r = run(graph(fmt::format("uri = 'http://127.0.0.1:{}/live.ts'\nlive = true", server.port()),
                     "{ from = \"v.out\", policy = \"drop_oldest\", capacity = 64 }"));
  BOOST_TEST((r.result.status == run_result::outcome::completed), test::joined(r.log));
  BOOST_TEST(server.connections() == 2);
  const auto& v = r.result.stats.stages.at("v");
  BOOST_TEST(v.errors == 1u);
  BOOST_TEST(v.restarts == 0u);
  auto log = test::joined(r.log);
  BOOST_TEST(log.find("stream dropped") != std::string::npos, log);
  auto got = packets();
  // Some frames of the first half, then the whole file again.
  BOOST_TEST(got.size() > 30u);
  BOOST_TEST(got.size() < 60u);
  std::size_t after_gap = 0;
  for (std::size_t i = 0; i < got.size(); ++i) {
    BOOST_TEST(got[i]->sequence == i);
    if (i > 0) BOOST_TEST(got[i]->timestamp_us > got[i - 1]->timestamp_us);
    if (got[i]->meta("gap_us")) {
      after_gap = i;
      BOOST_TEST(*got[i]->meta("reconnects") == "1");
      BOOST_TEST(std::stoll(*got[i]->meta("gap_us")) >= 0);
    }
  }
  BOOST_TEST(after_gap == got.size() - 30);
}

namespace {

// Takes 100 ms per packet: a pipeline far slower than the 30 fps it is fed.
class slow_sink final : public stage {
 public:
  explicit slow_sink(std::shared_ptr<test::collected> c) : c_(std::move(c)) {}
  void process(stage_context& ctx) override {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    std::lock_guard lock(c_->mutex);
    c_->packets.push_back(ctx.input_ptr());
  }

 private:
  std::shared_ptr<test::collected> c_;
};

}  // namespace

BOOST_FIXTURE_TEST_CASE(a_live_source_behind_a_slow_stage_skips_late_frames_and_counts_them,
                        ingest_fixture) {
  stage_spec slow;
  slow.type = "slow";
  slow.inputs = {{"in", "", {}}};
  slow.make = [got = got] { return std::make_unique<slow_sink>(got); };
  registry.add(slow, "test");
  auto file =
      ffmpeg("-f lavfi -i testsrc2=size=64x48:rate=30 -frames:v 45 -c:v libx264 -pix_fmt yuv420p",
             "fast.mp4");
  auto r = run("[stages.v]\ntype = \"video_source\"\nuri = '" + file +
               "'\nlive = true\nmax_lag_ms = 50\n[stages.sink]\ntype = \"slow\"\n"
               "inputs.in = { from = \"v.out\", capacity = 1 }\n");
  BOOST_TEST((r.result.status == run_result::outcome::completed));
  auto got = packets();
  std::uint64_t skipped = 0;
  for (const auto& p : got)
    if (const auto* s = p->meta("skipped_before")) skipped += std::stoull(*s);
  BOOST_TEST(got.size() < 45u);
  BOOST_TEST(skipped > 0u);
  // Frames skipped after the last packet have no packet to be reported on.
  BOOST_TEST(got.size() + skipped <= 45u);
  BOOST_TEST(got.size() + skipped >= 40u);
  BOOST_TEST(r.result.stats.stages.at("v").errors == 0u);
}
