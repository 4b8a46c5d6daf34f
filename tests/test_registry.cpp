// The stage registry: built-in types, declarations without side effects, malformed specs.
#include <boost/test/unit_test.hpp>

#include "stages/registry.hpp"

using namespace loom;

namespace {

class nothing final : public stage {
 public:
  void process(stage_context&) override {}
};

stage_spec spec_named(std::string type) {
  stage_spec s;
  s.type = std::move(type);
  s.inputs = {{"in", "", {}}};
  s.outputs = {{"out", "", {}}};
  s.make = [] { return std::make_unique<nothing>(); };
  return s;
}

std::string refusal(const stage_spec& spec) {
  stage_registry r;
  try {
    r.add(spec);
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "accepted";
}

}  // namespace

BOOST_AUTO_TEST_CASE(every_build_has_the_builtin_types) {
  auto r = stage_registry::with_builtins();
  for (const char* type : {"synthetic_source", "passthrough", "null_sink"})
    BOOST_TEST(r.find(type) != nullptr, type);
  BOOST_TEST(r.origin("passthrough") == "built-in");
  BOOST_TEST(r.find("synthetic_source")->is_source());
  BOOST_TEST(r.find("null_sink")->is_sink());
  for (const auto* s : r.all()) {
    BOOST_TEST(!s->summary.empty());
    BOOST_TEST(s->doc.find("[stages.") != std::string::npos);  // every doc shows a TOML example
    for (const auto& p : s->params) BOOST_TEST(!p.doc.empty());
  }
}

BOOST_AUTO_TEST_CASE(declaring_a_type_creates_no_instance) {
  int made = 0;
  auto spec = spec_named("counted");
  spec.make = [&made] {
    ++made;
    return std::make_unique<nothing>();
  };
  stage_registry r;
  r.add(spec);
  r.find("counted");
  r.all();
  BOOST_TEST(made == 0);
}

BOOST_AUTO_TEST_CASE(malformed_specs_are_refused_with_the_reason) {
  stage_registry r;
  r.add(spec_named("x"));
  BOOST_CHECK_THROW(r.add(spec_named("x")), std::invalid_argument);

  auto no_factory = spec_named("y");
  no_factory.make = nullptr;
  BOOST_TEST(refusal(no_factory) == "stage type 'y' has no factory");

  auto single_input = spec_named("z");
  single_input.inputs = {{"frames", "", {}}};
  BOOST_TEST(refusal(single_input) == "stage type 'z': a stage with one input names it 'in' (not 'frames')");

  auto twice = spec_named("w");
  twice.inputs = {{"a", "", {}}, {"a", "", {}}};
  BOOST_TEST(refusal(twice) == "stage type 'w' declares input port 'a' twice");

  auto reserved = spec_named("u");
  reserved.params = {integer_param("replicas", 1, "copies")};
  BOOST_TEST(refusal(reserved) ==
             "stage type 'u': parameter 'replicas' would clash with the stage key of that name");

  auto params = spec_named("v");
  params.params = {integer_param("n", 1, "n"), integer_param("n", 2, "n again")};
  BOOST_TEST(refusal(params) == "stage type 'v' declares parameter 'n' twice");
}

BOOST_AUTO_TEST_CASE(a_stage_context_drives_a_stage_by_hand) {
  auto r = stage_registry::with_builtins();
  const auto& spec = *r.find("passthrough");
  param_values values({{"work_us", std::int64_t{0}}});
  stage_context ctx("hop", spec, values);
  auto instance = spec.make();
  instance->open(ctx);
  auto p = std::make_shared<const packet>();
  ctx.set_input(0, p);
  instance->process(ctx);
  BOOST_REQUIRE(ctx.emitted().size() == 1u);
  BOOST_TEST(ctx.emitted()[0].first == 0u);
  BOOST_TEST(ctx.emitted()[0].second.get() == p.get());  // forwarded, not copied
}

BOOST_AUTO_TEST_CASE(stages_log_through_their_context_and_count_their_own_drops) {
  auto r = stage_registry::with_builtins();
  stage_context ctx("hop", *r.find("passthrough"), param_values{}, "cpu", 2);
  std::vector<std::string> lines;
  ctx.set_log([&](const std::string& line) { lines.push_back(line); });
  ctx.log("reconnected after 1.5 s");
  BOOST_TEST(lines == std::vector<std::string>{"stage 'hop' (passthrough) replica 2: reconnected after 1.5 s"},
             boost::test_tools::per_element());
  ctx.count_dropped(3);
  ctx.count_dropped();
  BOOST_TEST(ctx.take_dropped() == 4u);
  BOOST_TEST(ctx.take_dropped() == 0u);
}
