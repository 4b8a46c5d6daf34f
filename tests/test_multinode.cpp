// Graphs spread over several nodes, each node a `loom node` in a network namespace of its own
// (netns_cluster.hpp): the outputs are those of one process, a node killed mid-stream ends the
// run within the stated bound, a coordinator without the right key is refused, and a node of
// another release or a malformed control message is refused without harm. Needs root (CI has
// it); skipped elsewhere.
#include <boost/test/unit_test.hpp>

#include <zmq.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include <fmt/format.h>

#include "connectors/control_channel.hpp"
#include "netns_cluster.hpp"

namespace fs = std::filesystem;
using loom::test::netns_cluster;

namespace {

const std::string loom_bin = LOOM_EXECUTABLE;
const fs::path model = fs::path(LOOM_SOURCE_DIR) / "examples" / "multimodal" / "model";

struct namespaces_available {
  boost::test_tools::assertion_result operator()(boost::unit_test::test_unit_id) const {
    boost::test_tools::assertion_result ok(loom::test::can_make_namespaces());
    ok.message() << "needs root and iproute2 to make network namespaces";
    return ok;
  }
};

struct scratch {
  fs::path dir = fs::temp_directory_path() /
                 ("loom-multinode-" + std::to_string(getpid()) + "-" +
                  std::to_string(std::chrono::steady_clock::now().time_since_epoch().count()));
  scratch() { fs::create_directories(dir); }
  ~scratch() { fs::remove_all(dir); }
  fs::path write(const std::string& name, const std::string& text) const {
    std::ofstream(dir / name) << text;
    return dir / name;
  }
};

// Nodes n1..nCOUNT: one per namespace at port 7000, or all on this host's loopback at `port`,
// `port` + 100, ... (then every edge between them is shared memory).
std::string nodes_table(int count, int loopback_port = 0) {
  std::string out;
  for (int i = 1; i <= count; ++i)
    out += loopback_port == 0
               ? fmt::format("[nodes.n{}]\naddress = \"tcp://{}:7000\"\n\n", i, netns_cluster::address(i))
               : fmt::format("[nodes.n{}]\naddress = \"tcp://127.0.0.1:{}\"\n\n", i,
                             loopback_port + 100 * (i - 1));
  return out;
}

// Text -> tokens -> text encoder -> MoE backbone -> painter -> PNGs. With `spread`: the text
// side on n1, the backbone's router and shard 0 on n2 and shard 1 on n3, the painter on n3, the
// PNGs written by the coordinator; without, everything in one process.
std::string painting_graph(const fs::path& out, bool spread, int loopback_port = 0) {
  auto on = [&](const char* node) { return spread ? fmt::format("node = \"{}\"\n", node) : ""; };
  return fmt::format(R"([graph]
name = "painting"
version = 1

{nodes}[stages.prompt]
type = "text_source"
prompts = ["a blue square", "a large red circle on the left", "a small yellow star at the top"]
{n1}
[stages.tokens]
type = "tokenizer"
vocab = "{model}/vocab.json"
merges = "{model}/merges.txt"
inputs.in = "prompt.out"
{n1}
[stages.text]
type = "text_encoder"
vocab = 1024
d_model = 128
layers = 2
heads = 4
d_ff = 256
weights = "{model}/text_encoder.safetensors"
inputs.in = "tokens.out"
{n1}
[stages.backbone]
type = "moe"
d_model = 128
d_ff = 256
experts = 8
top_k = 2
shared_experts = 1
weights = "{model}/backbone.safetensors"
shards = [{{ device = "cpu", experts = "0-3" }}, {{ device = "cpu", experts = "4-7"{n3shard} }}]
inputs.in = "text.out"
{n2}
[stages.painter]
type = "diffusion_decoder"
latent_size = 8
latent_channels = 4
patch = 2
image_size = 64
vae_channels = 16
d_model = 128
layers = 4
heads = 4
d_ff = 256
cond_dim = 128
steps = 20
guidance = 3.0
seed = 7
weights = "{model}/painter.safetensors"
inputs.in = "backbone.out"
{n3}
[stages.save]
type = "image_sink"
path = "{out}/image_{{sequence:03}}.png"
inputs.in = "painter.out"
)",
                     fmt::arg("nodes", spread ? nodes_table(3, loopback_port) : ""), fmt::arg("n1", on("n1")),
                     fmt::arg("n2", on("n2")), fmt::arg("n3", on("n3")),
                     fmt::arg("n3shard", spread ? ", node = \"n3\"" : ""),
                     fmt::arg("model", model.string()), fmt::arg("out", out.string()));
}

// A PNG's pixels, decoded by ffmpeg: the files themselves differ in their provenance text
// (which graph, which nodes), not in what they show.
std::string pixels_of(const fs::path& png) {
  auto r = loom::test::run_process({"/usr/bin/ffmpeg", "-v", "error", "-i", png.string(), "-f",
                                    "rawvideo", "-pix_fmt", "rgb24", "-"});
  BOOST_TEST_REQUIRE(r.exit_code == 0, "ffmpeg could not read " << png << ": " << r.err);
  return r.out;
}

std::vector<std::string> node_command() {
  return {loom_bin, "node", "--listen", "tcp://*:7000", "--insecure", "--once"};
}

}  // namespace

BOOST_AUTO_TEST_SUITE(multinode, *boost::unit_test::precondition(namespaces_available()))

BOOST_AUTO_TEST_CASE(a_graph_spread_over_three_nodes_paints_what_one_process_paints) {
  scratch s;
  netns_cluster cluster(4);
  std::vector<std::unique_ptr<loom::test::background_process>> nodes;
  for (int i = 1; i <= 3; ++i) nodes.push_back(cluster.start(i, node_command()));
  auto spread = s.write("spread.toml", painting_graph(s.dir / "spread", true));
  auto run = cluster.run(0, {loom_bin, "run", spread.string(), "--insecure", "--stats", "json"});
  BOOST_TEST_REQUIRE(run.exit_code == 0, run.err);
  // Every line an insecure run writes says so.
  std::istringstream lines(run.err);
  for (std::string line; std::getline(lines, line);)
    if (!line.empty()) BOOST_TEST(line.rfind("[INSECURE] ", 0) == 0u, line);
  auto stats = run.last_line();
  BOOST_TEST(stats.find("\"save\": {\"packets\": 3") != std::string::npos, stats);
  for (const auto* node : {"\"n1\"", "\"n2\"", "\"n3\""})
    BOOST_TEST(stats.find(std::string(node) + ": {\"address\"") != std::string::npos, stats);
  BOOST_TEST(stats.find("/send") == std::string::npos, "bridges leak into the stats: " << stats);
  for (auto& n : nodes) {
    auto done = n->wait(std::chrono::seconds(10));
    BOOST_TEST_REQUIRE(done.has_value(), "a node did not end after its deployment");
    BOOST_TEST(done->exit_code == 0, done->err);
  }

  auto single = s.write("single.toml", painting_graph(s.dir / "single", false));
  auto alone = loom::test::run_process({loom_bin, "run", single.string()});
  BOOST_TEST_REQUIRE(alone.exit_code == 0, alone.err);
  for (int i = 0; i < 3; ++i) {
    auto name = fmt::format("image_{:03}.png", i);
    auto a = pixels_of(s.dir / "spread" / name), b = pixels_of(s.dir / "single" / name);
    BOOST_TEST(a.size() == 64u * 64u * 3u, name);
    BOOST_TEST((a == b), name << " shows other pixels in the spread run than in one process");
  }
}

BOOST_AUTO_TEST_CASE(a_node_killed_mid_stream_ends_the_run_within_the_bound) {
  scratch s;
  netns_cluster cluster(3);
  auto n1 = cluster.start(1, node_command());
  auto n2 = cluster.start(2, node_command());
  auto graph = s.write("stream.toml", "[graph]\nname = \"stream\"\nversion = 1\n\n" + nodes_table(2) + R"(
[stages.src]
type = "synthetic_source"
count = 1000000
rate_hz = 200
shape = [1024]
node = "n1"

[stages.hop]
type = "passthrough"
node = "n2"
inputs.in = "src.out"

[stages.sink]
type = "null_sink"
inputs.in = "hop.out"
)");
  auto coordinator = cluster.start(0, {loom_bin, "run", graph.string(), "--insecure", "--stats", "json"});
  // Let packets flow, then pull the plug on n2.
  for (int i = 0; i < 100 && coordinator->err_so_far().find("starting graph") == std::string::npos; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  std::this_thread::sleep_for(std::chrono::seconds(1));
  auto killed = std::chrono::steady_clock::now();
  n2->signal(SIGKILL);
  auto run = coordinator->wait(std::chrono::seconds(20));
  BOOST_TEST_REQUIRE(run.has_value(), "the coordinator hangs after a node died");
  double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - killed).count();
  BOOST_TEST(run->exit_code == 1, run->err);
  BOOST_TEST(run->err.find("node 'n2'") != std::string::npos, run->err);
  BOOST_TEST(run->err.find("hop") != std::string::npos, "the failure names the lost stage: " << run->err);
  // The bound: 3 s of silence, then at most the wind-down of the others (3 s + 2 s).
  BOOST_TEST(took < 9.0, "detected and ended after " << took << " s");
  BOOST_TEST(run->last_line().find("\"n2\": {\"address\": \"tcp://10.77.0.3:7000\", \"outcome\": \"lost\"") !=
                 std::string::npos,
             run->last_line());
  auto survivor = n1->wait(std::chrono::seconds(10));
  BOOST_TEST_REQUIRE(survivor.has_value(), "node n1 still runs after the run ended");
}

BOOST_AUTO_TEST_CASE(a_coordinator_whose_key_a_node_does_not_allow_is_refused) {
  scratch s;
  auto keys = s.dir / "keys";
  for (const auto* name : {"coordinator", "n1", "stranger"})
    BOOST_TEST_REQUIRE(loom::test::run_process({loom_bin, "keygen", "--out", keys.string(), name}).exit_code == 0);
  // n1 allows only the stranger; the coordinator knows n1's public key.
  fs::create_directories(s.dir / "n1_allows");
  fs::copy_file(keys / "stranger.pub", s.dir / "n1_allows" / "stranger.pub");
  fs::create_directories(s.dir / "coordinator_allows");
  fs::copy_file(keys / "n1.pub", s.dir / "coordinator_allows" / "n1.pub");
  netns_cluster cluster(2);
  auto n1 = cluster.start(1, {loom_bin, "node", "--listen", "tcp://*:7000", "--key",
                              (keys / "n1.key").string(), "--allow", (s.dir / "n1_allows").string(),
                              "--once"});
  auto graph = s.write("keyed.toml", "[graph]\nname = \"keyed\"\nversion = 1\n\n" + nodes_table(1) + R"(
[stages.src]
type = "synthetic_source"
count = 10
node = "n1"

[stages.sink]
type = "null_sink"
inputs.in = "src.out"
)");
  auto run = cluster.run(0, {loom_bin, "run", graph.string(), "--key", (keys / "coordinator.key").string(),
                             "--allow", (s.dir / "coordinator_allows").string(), "--node-timeout", "3"});
  BOOST_TEST(run.exit_code == 1, run.err);
  BOOST_TEST(run.err.find("node 'n1' at tcp://10.77.0.2:7000 did not answer") != std::string::npos, run.err);
  BOOST_TEST(run.err.find("[INSECURE]") == std::string::npos, run.err);
  n1->signal(SIGTERM);
  auto node = n1->wait(std::chrono::seconds(10));
  BOOST_TEST_REQUIRE(node.has_value());
  BOOST_TEST(node->err.find("refused") != std::string::npos, "the node logs the refusal: " << node->err);
}

BOOST_AUTO_TEST_SUITE_END()

// No namespaces needed: three nodes on this host's loopback, joined by shared memory.
BOOST_AUTO_TEST_CASE(nodes_on_one_host_share_memory_and_paint_what_one_process_paints) {
  scratch s;
  const int port = 21000 + getpid() % 200 * 100 % 20000;
  std::vector<std::unique_ptr<loom::test::background_process>> nodes;
  for (int i = 0; i < 3; ++i)
    nodes.push_back(std::make_unique<loom::test::background_process>(std::vector<std::string>{
        loom_bin, "node", "--listen", fmt::format("tcp://127.0.0.1:{}", port + 100 * i),
        "--insecure", "--once"}));
  auto spread = s.write("spread.toml", painting_graph(s.dir / "spread", true, port));
  auto run = loom::test::run_process({loom_bin, "run", spread.string(), "--insecure", "--stats", "json"});
  BOOST_TEST_REQUIRE(run.exit_code == 0, run.err);
  auto stats = run.last_line();
  BOOST_TEST(stats.find("\"transport\": \"shm\"") != std::string::npos, stats);
  BOOST_TEST(stats.find("\"save\": {\"packets\": 3") != std::string::npos, stats);
  auto single = s.write("single.toml", painting_graph(s.dir / "single", false));
  BOOST_TEST_REQUIRE(loom::test::run_process({loom_bin, "run", single.string()}).exit_code == 0);
  for (int i = 0; i < 3; ++i) {
    auto name = fmt::format("image_{:03}.png", i);
    BOOST_TEST((pixels_of(s.dir / "spread" / name) == pixels_of(s.dir / "single" / name)), name);
  }
  for (auto& n : nodes) BOOST_TEST_REQUIRE(n->wait(std::chrono::seconds(10)).has_value());
}

// No namespaces needed: a node on loopback, and a test that speaks to it as a hostile or
// mismatched coordinator would.
BOOST_AUTO_TEST_CASE(a_node_refuses_another_release_and_survives_malformed_messages) {
  const std::string endpoint = "tcp://127.0.0.1:" + std::to_string(20000 + getpid() % 20000);
  loom::test::background_process node({loom_bin, "node", "--listen", endpoint, "--insecure"});
  void* context = zmq_ctx_new();
  void* dealer = zmq_socket(context, ZMQ_DEALER);
  loom::control::configure_control_socket(dealer, false);
  BOOST_TEST_REQUIRE(zmq_connect(dealer, endpoint.c_str()) == 0);
  auto answer = [&]() -> std::optional<loom::control::message> {
    for (int i = 0; i < 100; ++i) {
      loom::control::wait_readable(&dealer, 1, 100);
      if (auto in = loom::control::receive(dealer, false, "node")) return in->body;
    }
    return std::nullopt;
  };

  // Garbage, then a fuzzed deploy: each refused with an error, none fatal.
  const char junk[] = "not a control message";
  zmq_send(dealer, junk, sizeof junk, 0);
  auto first = answer();
  BOOST_TEST_REQUIRE(first.has_value(), "no answer to garbage: " << node.err_so_far());
  BOOST_TEST(std::holds_alternative<loom::wire::peer_error>(*first));

  auto hello = [&](const std::string& version) {
    loom::control::send(dealer, loom::wire::hello{version, loom::wire::wire_protocol_version, "abc", "n1", ""});
    return answer();
  };
  auto other = hello("0.0.1-other");
  BOOST_TEST_REQUIRE(other.has_value());
  BOOST_TEST_REQUIRE(std::holds_alternative<loom::wire::peer_error>(*other));
  const auto& why = std::get<loom::wire::peer_error>(*other).message;
  BOOST_TEST(why.find("0.0.1-other") != std::string::npos, why);
  BOOST_TEST(why.find(LOOM_VERSION) != std::string::npos, why);

  // Still serving: the same release is welcome.
  auto same = hello(LOOM_VERSION);
  BOOST_TEST_REQUIRE(same.has_value(), node.err_so_far());
  BOOST_TEST(std::holds_alternative<loom::wire::hello>(*same));

  zmq_close(dealer);
  zmq_ctx_term(context);
  node.signal(SIGTERM);
  auto done = node.wait(std::chrono::seconds(10));
  BOOST_TEST_REQUIRE(done.has_value(), "the node did not stop on SIGTERM");
}
