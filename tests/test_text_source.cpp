// text_source through the runtime: prompts from a list, then from a file; a missing file.
#include <boost/test/unit_test.hpp>

#include <fstream>

#include <fmt/format.h>

#include "ingest_fixture.hpp"
#include "process.hpp"

using namespace loom;
using loom::test::ingest_fixture;

BOOST_FIXTURE_TEST_CASE(prompts_from_a_list_then_a_file_arrive_in_order, ingest_fixture) {
  {
    std::ofstream out(path("prompts.txt"));
    out << "a dog on a beach\r\n\nune île, la nuit\n";
  }
  auto r = run(fmt::format(R"([stages.t]
type = "text_source"
prompts = ["a red car", "two cats"]
file = '{}'
[stages.sink]
type = "collect"
inputs.in = "t.out"
)",
                           path("prompts.txt")));
  BOOST_TEST((r.result.status == run_result::outcome::completed));
  auto got = packets();
  std::vector<std::string> want = {"a red car", "two cats", "a dog on a beach", "une île, la nuit"};
  BOOST_REQUIRE_EQUAL(got.size(), want.size());
  for (std::size_t i = 0; i < want.size(); ++i) {
    BOOST_TEST(got[i]->sequence == i);
    BOOST_TEST(*got[i]->meta("text") == want[i]);
    const auto& text = got[i]->at("text");
    BOOST_TEST((text.type() == dtype::u8));
    BOOST_TEST(text.shape()[0] == static_cast<std::int64_t>(want[i].size()));
    BOOST_TEST(std::string(reinterpret_cast<const char*>(text.raw()), want[i].size()) == want[i]);
  }
}

BOOST_FIXTURE_TEST_CASE(a_missing_prompt_file_fails_at_start_up, ingest_fixture) {
  auto r = run(fmt::format(R"([stages.t]
type = "text_source"
file = '{}'
[stages.sink]
type = "collect"
inputs.in = "t.out"
)",
                           path("none.txt")));
  BOOST_TEST((r.result.status == run_result::outcome::failed));
  BOOST_REQUIRE(!r.result.failures.empty());
  BOOST_TEST(r.result.failures[0] ==
             fmt::format("stage 't' (text_source) failed to open: cannot read prompts from '{}': "
                         "No such file or directory",
                         path("none.txt")));
}

BOOST_FIXTURE_TEST_CASE(prompts_from_standard_input_end_when_it_closes, ingest_fixture) {
  auto graph = path("stdin.toml");
  {
    std::ofstream out(graph);
    out << R"([graph]
name = "prompts"
version = 1
[stages.t]
type = "text_source"
prompts = ["first"]
stdin = true
[stages.sink]
type = "null_sink"
inputs.in = "t.out"
)";
  }
  auto command = fmt::format("printf 'second\\n\\nthird\\n' | '{}' run '{}' --stats json",
                             LOOM_EXECUTABLE, graph);
  auto r = test::run_process({"/bin/sh", "-c", command});
  BOOST_TEST(r.exit_code == 0, r.err);
  BOOST_TEST(r.last_line().find(R"("sink": {"packets": 3, "bytes": 16)") != std::string::npos,
             r.last_line());
}
