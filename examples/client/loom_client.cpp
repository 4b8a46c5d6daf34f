// loom_client: a program outside loom that feeds a running pipeline and reads its results back,
// speaking the wire that loom nodes speak to each other (docs/connectors.md, "Wire format").
// Copy it as the start of your own client.
//
// The pipeline (examples/client/graph.toml) receives on a `zmq_source` and answers on a
// `zmq_sink`; both bind. This program connects one DEALER socket to each, at the same time:
//
//   feeder, to the zmq_source:     hello → (hello, credit) → packet × N, one credit each → bye
//   collector, to the zmq_sink:    hello → (hello) → credit → packets, credit returned in
//                                  batches → until the sink's bye
//
// The pipeline holds only a few packets, so the feeder runs out of credit until the collector
// has read results: the two must run at once (here: two threads, one socket each).
//
// Packet i carries "data", an f32 [rows, k] tensor whose row r is (i + 1) × pattern(r). The graph
// multiplies it by a fixed matrix (a `matmul` stage), and a matrix product is linear, so result i
// must be (i + 1) × result 0: the client checks that, and that every result came back, once, in
// order, with the right shape — without knowing the weights.
//
//   loom_client --insecure --count 100
//   loom_client --key keys/client.key --server-key keys/server.pub --count 100
//
// Either give the client a key pair (`loom keygen client`) and the server's public key file, or
// say --insecure; it never falls back to plain text on its own.
#include <zmq.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <exception>
#include <fstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "connectors/secure_socket.hpp"
#include "connectors/wire_codec.hpp"
#include "connectors/zmq_frames.hpp"

namespace {

using clock_type = std::chrono::steady_clock;
using namespace std::chrono_literals;

struct options {
  std::string source = "tcp://127.0.0.1:7101";  // the pipeline's zmq_source
  std::string sink = "tcp://127.0.0.1:7102";    // the pipeline's zmq_sink
  int count = 20;                               // packets to send
  std::int64_t rows = 4;
  std::int64_t k = 256;                         // must match the matmul's k
  std::uint32_t edge = 0;                       // the stages' `edge` parameter
  std::uint32_t capacity = 16;                  // credit the collector grants the zmq_sink
  int heartbeat_ms = 500;                       // the stages' heartbeat_ms
  int silence_ms = 3000;                        // the stages' silence_ms
  int connect_s = 10;                           // how long to try reaching the pipeline
  bool quiet = false;
  bool insecure = false;
  std::string key_file;         // this client's NAME.key (loom keygen)
  std::string server_key_file;  // the pipeline's NAME.pub
};

// This host's boot id: steady clocks of processes with the same one can be compared.
std::string boot_id() {
  std::ifstream file("/proc/sys/kernel/random/boot_id");
  std::string id;
  std::getline(file, id);
  return id;
}

// One DEALER connection to a loom stage: sends and receives wire frames, heartbeats while idle,
// and notices a peer that went silent. `gave_up` is set when the other connection failed, so
// that this one stops waiting too.
class connection {
 public:
  connection(void* context, const std::string& endpoint, const loom::security& secured,
             const std::string& server_public_key, const options& opts,
             const std::atomic<bool>& gave_up)
      : endpoint_(endpoint), opts_(opts), gave_up_(gave_up) {
    socket_ = zmq_socket(context, ZMQ_DEALER);
    loom::wire::socket_settings settings;
    settings.receive_timeout_ms = 50;  // short, so heartbeats go out on time
    settings.send_timeout_ms = 1000;
    loom::wire::apply_settings(socket_, settings, loom::wire::socket_role::connects);
    loom::configure_client(socket_, secured, server_public_key);
    if (zmq_connect(socket_, endpoint.c_str()) != 0)
      throw std::runtime_error(fmt::format("cannot connect to {}: {}", endpoint,
                                           zmq_strerror(zmq_errno())));
  }
  ~connection() { zmq_close(socket_); }
  connection(const connection&) = delete;
  connection& operator=(const connection&) = delete;

  // Says hello until the connection is up (ZMQ_IMMEDIATE: a send waits for a finished
  // handshake), then waits for the stage's hello; the stage answers `error` when it refuses us.
  void handshake() {
    loom::wire::hello ours;
    ours.loom_version = LOOM_VERSION;
    ours.node_name = "loom_client";  // graph_hash stays "": a client runs no graph
    // On the pipeline's host, the packets' created_ns (our steady clock) is kept, so the
    // pipeline's latency figures start when we made the request.
    ours.boot_id = boot_id();
    const auto until = clock_type::now() + std::chrono::seconds(opts_.connect_s);
    while (!loom::wire::send_message(socket_, loom::wire::encode_frame(ours))) {
      if (clock_type::now() > until)
        throw std::runtime_error(fmt::format(
            "could not reach {} within {} s: is `loom run examples/client/graph.toml` running, "
            "listening there, and secured the same way as this client (--insecure on both, or "
            "this client's .pub in its --allow folder and its .pub given to this client as "
            "--server-key)?",
            endpoint_, opts_.connect_s));
    }
    last_sent_ = last_heard_ = clock_type::now();
    while (true) {
      auto frame = receive();
      if (!frame) continue;
      if (std::holds_alternative<loom::wire::hello>(*frame)) return;
      throw unexpected(*frame, "its hello");
    }
  }

  void send(const loom::wire::encoded_message& message) {
    if (!loom::wire::send_message(socket_, message))
      throw std::runtime_error(fmt::format("{} took nothing for a second: is it still running?",
                                           endpoint_));
    last_sent_ = clock_type::now();
  }

  // Credit and heartbeats: when the stage cannot take them at once it has usually finished
  // and closed the connection (its bye is already on its way to us); were it alive and stuck,
  // its silence would tell. Returns whether the message went out.
  bool send_if_possible(const loom::wire::encoded_message& message) {
    if (!loom::wire::send_message(socket_, message, /*dont_wait=*/true)) return false;
    last_sent_ = clock_type::now();
    return true;
  }

  // The next frame, or nothing after the receive timeout. Heartbeats are answered here: one
  // goes out when we sent nothing for heartbeat_ms. Throws when the peer refused us (`error`)
  // or was silent for silence_ms.
  std::optional<loom::wire::frame> receive() {
    if (gave_up_) throw std::runtime_error(fmt::format("gave up on {}", endpoint_));
    const auto now = clock_type::now();
    if (now - last_sent_ > std::chrono::milliseconds(opts_.heartbeat_ms))
      send_if_possible(loom::wire::encode_frame(loom::wire::heartbeat{loom::steady_now_ns()}));
    auto message = loom::wire::receive_message(socket_, endpoint_);
    if (!message) {
      if (clock_type::now() - last_heard_ > std::chrono::milliseconds(opts_.silence_ms))
        throw std::runtime_error(fmt::format("{} went silent for {} ms", endpoint_,
                                             opts_.silence_ms));
      return std::nullopt;
    }
    last_heard_ = clock_type::now();
    auto frame = loom::wire::decode(message->header, message->payloads, endpoint_);
    if (auto* refused = std::get_if<loom::wire::peer_error>(&frame))
      throw std::runtime_error(fmt::format("{} refused us: {}", endpoint_, refused->message));
    if (std::holds_alternative<loom::wire::heartbeat>(frame)) return std::nullopt;
    return frame;
  }

  std::runtime_error unexpected(const loom::wire::frame& frame, const std::string& expected) const {
    static const char* const kinds[] = {"hello", "packet", "credit", "heartbeat", "bye", "error"};
    return std::runtime_error(fmt::format("{} sent a {} frame where {} was expected", endpoint_,
                                          kinds[frame.index()], expected));
  }

 private:
  void* socket_ = nullptr;
  std::string endpoint_;
  const options& opts_;
  const std::atomic<bool>& gave_up_;
  clock_type::time_point last_sent_ = clock_type::now(), last_heard_ = clock_type::now();
};

// Row r of every packet before scaling: small multiples of 1/8, exact in f32.
float pattern(std::int64_t row, std::int64_t column, std::int64_t k) {
  return static_cast<float>((row * k + column) % 17 - 8) / 8.0f;
}

loom::packet make_request(int index, const options& opts) {
  auto data = loom::tensor::zeros(loom::dtype::f32, {opts.rows, opts.k});
  float* values = data.data<float>();
  for (std::int64_t r = 0; r < opts.rows; ++r)
    for (std::int64_t c = 0; c < opts.k; ++c)
      values[r * opts.k + c] = static_cast<float>(index + 1) * pattern(r, c, opts.k);
  loom::packet p;
  p.sequence = static_cast<std::uint64_t>(index);
  p.created_ns = loom::steady_now_ns();
  p.set("data", std::move(data));
  return p;
}

// When each packet went out, in steady-clock ns, for the round trips the collector prints.
using send_times = std::vector<std::atomic<std::int64_t>>;

// Sends opts.count packets to the zmq_source, each when we hold a credit for it, then bye.
void feed(connection& source, const options& opts, send_times& sent_ns) {
  source.handshake();
  std::uint64_t credits = 0;
  auto take_credit = [&](const loom::wire::frame& frame) {
    const auto* granted = std::get_if<loom::wire::credit>(&frame);
    if (granted == nullptr) throw source.unexpected(frame, "credit");
    credits += granted->count;
  };
  for (int i = 0; i < opts.count; ++i) {
    while (credits == 0)
      if (auto frame = source.receive()) take_credit(*frame);
    auto request = make_request(i, opts);
    sent_ns[static_cast<std::size_t>(i)] = request.created_ns;
    source.send(loom::wire::encode_packet(request, opts.edge));
    --credits;
  }
  source.send(loom::wire::encode_frame(loom::wire::bye{"end of stream"}));
}

struct result {
  std::uint64_t sequence = 0;
  loom::tensor data;
  double round_trip_ms = 0;
};

// Reads results from the zmq_sink until its bye, granting `capacity` credits and returning them
// in batches of half of it (or whenever nothing is waiting).
std::vector<result> collect(connection& sink, const options& opts, const send_times& sent_ns) {
  sink.handshake();
  sink.send(loom::wire::encode_frame(loom::wire::credit{opts.edge, opts.capacity}));
  std::vector<result> results;
  std::uint32_t owed = 0;
  auto give_back = [&] {  // what does not go out now goes with the next batch
    if (owed > 0 && sink.send_if_possible(loom::wire::encode_frame(loom::wire::credit{opts.edge, owed})))
      owed = 0;
  };
  while (true) {
    std::optional<loom::wire::frame> frame;
    try {
      frame = sink.receive();
    } catch (const std::exception& e) {
      throw std::runtime_error(fmt::format("{} (after {} of {} results)", e.what(),
                                           results.size(), opts.count));
    }
    if (!frame) {
      give_back();
      continue;
    }
    if (std::holds_alternative<loom::wire::bye>(*frame)) return results;
    auto* arrived = std::get_if<loom::wire::packet_frame>(&*frame);
    if (arrived == nullptr) throw sink.unexpected(*frame, "a packet or bye");
    const auto sequence = arrived->value.sequence;
    const double ms = sequence < sent_ns.size()
                          ? static_cast<double>(loom::steady_now_ns() - sent_ns[sequence]) / 1e6
                          : 0.0;
    results.push_back({sequence, arrived->value.at("data"), ms});
    if (++owed >= opts.capacity / 2) give_back();
  }
}

// What is wrong with the results, or "" when each is (i + 1) × result 0, in order, complete.
std::string check(const std::vector<result>& results, const options& opts) {
  if (results.size() != static_cast<std::size_t>(opts.count))
    return fmt::format("{} results came back for {} packets sent", results.size(), opts.count);
  const loom::tensor& first = results.front().data;
  if (first.type() != loom::dtype::f32 || first.rank() != 2 || first.shape()[0] != opts.rows)
    return fmt::format("result 0 is {} {}; expected f32 [{}, n]", loom::name_of(first.type()),
                       loom::to_string(first.shape()), opts.rows);
  const auto size = static_cast<std::size_t>(first.numel());
  const float* base = first.data<float>();
  float largest = 0;
  for (std::size_t j = 0; j < size; ++j) largest = std::max(largest, std::fabs(base[j]));
  for (std::size_t i = 0; i < results.size(); ++i) {
    const auto& r = results[i];
    if (r.sequence != i) return fmt::format("result {} has sequence {}", i, r.sequence);
    if (r.data.shape() != first.shape() || r.data.type() != first.type())
      return fmt::format("result {} is {}, result 0 {}", i, loom::to_string(r.data.shape()),
                         loom::to_string(first.shape()));
    const float scale = static_cast<float>(i + 1);
    const float* values = r.data.data<float>();
    for (std::size_t j = 0; j < size; ++j)
      if (std::fabs(values[j] - scale * base[j]) > 1e-4f * scale * largest)
        return fmt::format("result {} element {} is {}; {} × result 0 is {}", i, j, values[j],
                           scale, scale * base[j]);
  }
  return "";
}

void print(const result& r) {
  const auto rows = r.data.shape()[0], columns = r.data.shape()[1];
  std::string sums;
  for (std::int64_t row = 0; row < rows; ++row) {
    double sum = 0;
    for (std::int64_t c = 0; c < columns; ++c) sum += r.data.data<float>()[row * columns + c];
    sums += fmt::format(" {:.6g}", sum);
  }
  fmt::print("result {}: data {} f32, {:.2f} ms round trip, row sums{}\n", r.sequence,
             loom::to_string(r.data.shape()), r.round_trip_ms, sums);
}

loom::security security_of(const options& opts) {
  if (opts.insecure) {
    if (!opts.key_file.empty()) throw std::runtime_error("give either --key or --insecure, not both");
    return loom::security::insecure();
  }
  if (opts.key_file.empty() || opts.server_key_file.empty())
    throw std::runtime_error(
        "refusing to connect without CURVE keys: give --key CLIENT.key (from `loom keygen "
        "client`) and --server-key SERVER.pub (the pipeline's public key), or --insecure when "
        "the pipeline runs with --insecure on a trusted network");
  return loom::security::from_files(opts.key_file);
}

int run(const options& opts) {
  const auto secured = security_of(opts);
  loom::check_security(secured);
  const std::string server_key =
      opts.insecure ? "" : loom::read_public_key(opts.server_key_file);
  void* context = zmq_ctx_new();
  std::vector<result> results;
  std::exception_ptr feed_failure;
  std::atomic<bool> gave_up = false;
  send_times sent_ns(static_cast<std::size_t>(opts.count));
  const auto start = clock_type::now();
  {
    connection source(context, opts.source, secured, server_key, opts, gave_up);
    connection sink(context, opts.sink, secured, server_key, opts, gave_up);
    std::thread feeder([&] {
      try {
        feed(source, opts, sent_ns);
      } catch (...) {
        feed_failure = std::current_exception();
        gave_up = true;
      }
    });
    try {
      results = collect(sink, opts, sent_ns);
    } catch (...) {
      const bool feeder_failed_first = gave_up.exchange(true);
      feeder.join();
      if (feeder_failed_first) std::rethrow_exception(feed_failure);  // the cause, not "gave up"
      throw;
    }
    feeder.join();
    if (feed_failure) std::rethrow_exception(feed_failure);
  }
  zmq_ctx_term(context);
  const double seconds = std::chrono::duration<double>(clock_type::now() - start).count();

  if (!opts.quiet)
    for (const auto& r : results) print(r);
  if (auto wrong = check(results, opts); !wrong.empty()) {
    fmt::print(stderr, "loom_client: {}{}\n", loom::security_banner(), wrong);
    return 1;
  }
  const double megabytes = static_cast<double>(opts.count * opts.rows * opts.k * 4) / 1e6;
  fmt::print("{}{} packets sent to {} and {} results read from {} in {:.3f} s ({:.1f} MB/s "
             "out); every result is (i + 1) × result 0: OK\n",
             loom::security_banner(), opts.count, opts.source, results.size(), opts.sink, seconds,
             megabytes / seconds);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  options opts;
  CLI::App app{"Feeds examples/client/graph.toml's zmq_source and reads its zmq_sink."};
  app.add_option("--source", opts.source, "the pipeline's zmq_source endpoint")->capture_default_str();
  app.add_option("--sink", opts.sink, "the pipeline's zmq_sink endpoint")->capture_default_str();
  app.add_option("--count", opts.count, "packets to send")->capture_default_str()->check(CLI::Range(1, 1000000));
  app.add_option("--rows", opts.rows, "rows per packet")->capture_default_str()->check(CLI::Range(1, 4096));
  app.add_option("--k", opts.k, "columns per row: the matmul's k")->capture_default_str()->check(CLI::Range(1, 65536));
  app.add_option("--edge", opts.edge, "edge id of both stages (their `edge`)")->capture_default_str();
  app.add_option("--capacity", opts.capacity, "results in flight from the zmq_sink")
      ->capture_default_str()->check(CLI::Range(2, 4096));
  app.add_option("--heartbeat-ms", opts.heartbeat_ms, "heartbeat when idle this long")->capture_default_str();
  app.add_option("--silence-ms", opts.silence_ms, "a stage silent this long is dead")->capture_default_str();
  app.add_option("--connect-timeout", opts.connect_s, "seconds to try reaching the pipeline")->capture_default_str();
  app.add_flag("--quiet", opts.quiet, "print only the summary, not each result");
  app.add_flag("--insecure", opts.insecure, "no CURVE: only with a pipeline run with --insecure");
  app.add_option("--key", opts.key_file, "this client's key pair (NAME.key from `loom keygen`)");
  app.add_option("--server-key", opts.server_key_file, "the pipeline's public key (its NAME.pub)");
  CLI11_PARSE(app, argc, argv);
  try {
    return run(opts);
  } catch (const std::exception& e) {
    fmt::print(stderr, "loom_client: {}{}\n", loom::security_banner(), e.what());
    return 1;
  }
}
