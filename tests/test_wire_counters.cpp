// wire_counters: an edge_channel's running totals copied into a stage's counters, as zmq_sink and
// zmq_source show them under `counters` in `--stats json`.
#include <boost/test/unit_test.hpp>

#include <cstdint>
#include <vector>

#include "stages/net/wire_counters.hpp"
#include "stages/registry.hpp"

using namespace loom;

namespace {

using values = std::vector<std::uint64_t>;

struct fixture {
  stage_registry registry = stage_registry::with_builtins();
  stage_context ctx{"edge", *registry.find("null_sink"), param_values{}};

  std::uint64_t counter(const char* name) const { return ctx.counters().at(name).at(0); }
};

}  // namespace

BOOST_FIXTURE_TEST_CASE(the_first_update_names_every_counter_zeros_included, fixture) {
  net_stages::wire_counters counters("received");
  counters.update(ctx, edge_counts{});
  for (const char* name : {"wire_packets_received", "wire_bytes_received", "refused_frames",
                           "credit_wait_ms", "in_flight_peak", "peers"})
    BOOST_TEST(ctx.counters().at(name) == values{0}, name);
  BOOST_TEST(ctx.counters().size() == 6u);
}

BOOST_FIXTURE_TEST_CASE(later_updates_add_what_grew_since_the_one_before, fixture) {
  net_stages::wire_counters counters("sent");
  edge_counts totals;
  counters.update(ctx, totals);
  totals.packets = 3;
  totals.bytes = 3000;
  totals.credit_wait_ns = 2'600'000;
  totals.in_flight_peak = 2;
  totals.peers = 1;
  counters.update(ctx, totals);
  totals.packets = 5;
  totals.bytes = 5000;
  totals.credit_wait_ns = 4'100'000;
  totals.refused_frames = 1;
  counters.update(ctx, totals);
  counters.update(ctx, totals);  // nothing grew: nothing added
  BOOST_TEST(counter("wire_packets_sent") == 5u);
  BOOST_TEST(counter("wire_bytes_sent") == 5000u);
  BOOST_TEST(counter("credit_wait_ms") == 4u);  // whole milliseconds of the running total
  BOOST_TEST(counter("in_flight_peak") == 2u);
  BOOST_TEST(counter("peers") == 1u);
  BOOST_TEST(counter("refused_frames") == 1u);
}
