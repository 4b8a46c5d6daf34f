// A test plugin whose registration fails halfway: it adds one stage type, then throws. The
// loader must report the message and leave the registry without that first type.
#include <memory>
#include <stdexcept>

#include "stages/plugin.hpp"

namespace loom {
namespace {

class idle final : public stage {
 public:
  void process(stage_context&) override {}
};

void register_then_fail(stage_registry& registry) {
  stage_spec spec;
  spec.type = "test_half_registered";
  spec.inputs = {{"in", "any packet", {}}};
  spec.make = [] { return std::make_unique<idle>(); };
  registry.add(std::move(spec));
  throw std::runtime_error("refused on purpose");
}

}  // namespace
}  // namespace loom

LOOM_PLUGIN(loom::register_then_fail)
