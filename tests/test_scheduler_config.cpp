// The CAF scheduler settings of a run (actors/scheduler_config.hpp): one worker per replica that
// runs on the workers, within the machine's cores; idle workers spin 1000 tries, then sleep on
// the condition variable without CAF's 500 naps of 50 µs between; which consumer runs on a
// blocking stage's thread.
#include <boost/test/unit_test.hpp>

#include <string>
#include <thread>

#include <caf/actor_system_config.hpp>
#include <caf/defaults.hpp>
#include <caf/settings.hpp>

#include "actors/scheduler_config.hpp"
#include "graphs/load.hpp"

using namespace loom;

namespace {

graph_def load(const std::string& stages) {
  auto registry = stage_registry::with_builtins();
  auto result = load_graph_text("[graph]\nname = \"workers\"\nversion = 1\n" + stages,
                                "workers.toml", {}, registry);
  std::string errors;
  for (const auto& d : result.errors) errors += format(d) + "\n";
  BOOST_REQUIRE_MESSAGE(result.graph, errors);
  return std::move(*result.graph);
}

// A source, a stage with three replicas and a sink: five actors on the workers.
const std::string five_on_workers = R"(
[stages.src]
type = "synthetic_source"
[stages.hop]
type = "passthrough"
replicas = 3
inputs.in = "src.out"
[stages.sink]
type = "null_sink"
inputs.in = "hop.out"
)";

}  // namespace

BOOST_AUTO_TEST_CASE(one_worker_per_replica_on_the_workers_within_the_cores) {
  const auto graph = load(five_on_workers);
  BOOST_TEST(scheduler_workers(graph, 64) == 5u);
  BOOST_TEST(scheduler_workers(graph, 2) == 2u);
  BOOST_TEST(scheduler_workers(graph, 0) == 1u);  // hardware_concurrency() may not know
}

BOOST_AUTO_TEST_CASE(stages_on_threads_of_their_own_need_no_worker) {
  // zmq_source blocks (its own thread), the pinned passthrough has its own thread too: only the
  // sink runs on the workers.
  const auto graph = load(R"(
[devices.pinned]
kind = "cpu"
cores = [0]
[stages.in]
type = "zmq_source"
endpoint = "tcp://127.0.0.1:7001"
[stages.hop]
type = "passthrough"
device = "pinned"
inputs.in = "in.out"
[stages.sink]
type = "null_sink"
inputs.in = "hop.out"
)");
  BOOST_TEST(runs_on_own_thread(graph, *graph.find("in")));
  BOOST_TEST(runs_on_own_thread(graph, *graph.find("hop")));
  BOOST_TEST(!runs_on_own_thread(graph, *graph.find("sink")));
  BOOST_TEST(scheduler_workers(graph, 64) == 1u);
}

BOOST_AUTO_TEST_CASE(the_run_configures_caf_with_these_settings) {
  // How CAF reads the settings, with its defaults as the fallbacks.
  const auto graph = load(five_on_workers);
  caf::actor_system_config plain;
  caf::actor_system_config tuned;
  tune_scheduler(tuned, graph);
  const auto spins = "work-stealing.aggressive-poll-attempts";
  const auto spin_default = caf::defaults::work_stealing::aggressive_poll_attempts;
  BOOST_TEST(caf::get_or(plain, spins, spin_default) == 100u);
  BOOST_TEST(caf::get_or(tuned, spins, spin_default) == 1000u);
  const auto naps = "work-stealing.moderate-poll-attempts";
  const auto nap_default = caf::defaults::work_stealing::moderate_poll_attempts;
  BOOST_TEST(caf::get_or(plain, naps, nap_default) == 500u);
  BOOST_TEST(caf::get_or(tuned, naps, nap_default) == 0u);
  const auto workers = "scheduler.max-threads";
  BOOST_TEST(caf::get_or(tuned, workers, caf::defaults::scheduler::max_threads) ==
             scheduler_workers(graph, std::thread::hardware_concurrency()));
}

namespace {

// A blocking stage ("in") and what consumes it: `consumers` in TOML.
graph_def network_source_and(const std::string& consumers) {
  return load(R"(
[devices.pinned]
kind = "cpu"
cores = [0]
[stages.in]
type = "zmq_source"
endpoint = "tcp://127.0.0.1:7001"
)" + consumers);
}

}  // namespace

BOOST_AUTO_TEST_CASE(a_blocking_stage_runs_its_only_single_replica_consumer_on_its_thread) {
  const auto graph = network_source_and(R"(
[stages.hop]
type = "passthrough"
inputs.in = "in.out"
[stages.sink]
type = "null_sink"
inputs.in = "hop.out"
)");
  BOOST_TEST(consumer_on_producer_thread(graph, *graph.find("in")) == graph.find("hop"));
  // A stage on the workers has no thread to share.
  BOOST_TEST(consumer_on_producer_thread(graph, *graph.find("hop")) == nullptr);
}

BOOST_AUTO_TEST_CASE(consumers_that_would_take_turns_on_one_thread_keep_their_own) {
  const auto two_consumers = network_source_and(R"(
[stages.a]
type = "null_sink"
inputs.in = "in.out"
[stages.b]
type = "null_sink"
inputs.in = "in.out"
)");
  BOOST_TEST(consumer_on_producer_thread(two_consumers, *two_consumers.find("in")) == nullptr);
  const auto two_replicas = network_source_and(R"(
[stages.sink]
type = "null_sink"
replicas = 2
inputs.in = "in.out"
)");
  BOOST_TEST(consumer_on_producer_thread(two_replicas, *two_replicas.find("in")) == nullptr);
  const auto pinned = network_source_and(R"(
[stages.sink]
type = "null_sink"
device = "pinned"
inputs.in = "in.out"
)");
  BOOST_TEST(consumer_on_producer_thread(pinned, *pinned.find("in")) == nullptr);
}
