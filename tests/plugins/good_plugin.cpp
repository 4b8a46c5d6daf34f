// The well-formed test plugin: stage types that exist for tests only, loaded from
// ${LOOM_BINARY_DIR}/tests/plugins/libgood_plugin.so by the loader's tests and by runtime tests
// that need failures on demand or a record of what arrived.
//
// test_faulty: forwards each packet unchanged, or throws std::runtime_error where told to, to
// exercise error policies, restarts and crash loops.
//
//   [plugins]
//   paths = ["/path/to/build/tests/plugins/libgood_plugin.so"]
//
//   [stages.flaky]
//   type = "test_faulty"
//   fail_every = 3          # the 3rd, 6th, ... packet this instance processes throws
//   fail_after = 10         # every packet after the first 10 this instance processes throws
//   fail_sequences = [5]    # packets with these sequence numbers throw, whatever the instance
//   fail_open = false       # throw in open
//   fail_close = false      # throw in close
//   inputs.in = "src.out"
//
// The counts behind fail_every and fail_after belong to one instance: a restarted stage (a fresh
// instance) starts counting again, while fail_sequences marks the same packets every time.
//
// test_record: a sink that writes "STREAM SEQUENCE" for every packet it receives, one line each,
// flushed at once so that the file is complete even when the run then fails. Use one replica.
//
//   [stages.record]
//   type = "test_record"
//   path = "/tmp/received.txt"   # truncated in open
//   inputs.in = "flaky.out"
#include <algorithm>
#include <cstdint>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "stages/plugin.hpp"

namespace loom {
namespace {

class test_faulty final : public stage {
 public:
  void open(stage_context& ctx) override {
    const auto& p = ctx.params();
    if (p.boolean("fail_open")) throw std::runtime_error("test_faulty: injected failure in open");
    fail_every_ = p.integer("fail_every");
    fail_after_ = p.integer("fail_after");
    fail_sequences_ = p.integers("fail_sequences");
    fail_close_ = p.boolean("fail_close");
  }

  void process(stage_context& ctx) override {
    const auto& in = ctx.input_ptr("in");
    ++processed_;
    auto sequence = static_cast<std::int64_t>(in->sequence);
    bool fail = (fail_every_ > 0 && processed_ % fail_every_ == 0) ||
                (fail_after_ > 0 && processed_ > fail_after_) ||
                std::find(fail_sequences_.begin(), fail_sequences_.end(), sequence) !=
                    fail_sequences_.end();
    if (fail)
      throw std::runtime_error("test_faulty: injected failure at sequence " +
                               std::to_string(sequence));
    ctx.emit("out", in);
  }

  void close(stage_context&) override {
    if (fail_close_) throw std::runtime_error("test_faulty: injected failure in close");
  }

 private:
  std::int64_t fail_every_ = 0, fail_after_ = 0, processed_ = 0;
  std::vector<std::int64_t> fail_sequences_;
  bool fail_close_ = false;
};

class test_record final : public stage {
 public:
  void open(stage_context& ctx) override {
    const auto& path = ctx.params().string("path");
    out_.open(path, std::ios::trunc);
    if (!out_) throw std::runtime_error("test_record: cannot write " + path);
  }

  void process(stage_context& ctx) override {
    const auto& in = ctx.input("in");
    out_ << in.stream_id << ' ' << in.sequence << std::endl;
  }

 private:
  std::ofstream out_;
};

stage_spec test_faulty_spec() {
  stage_spec spec;
  spec.type = "test_faulty";
  spec.summary = "Forwards packets, throwing where told to (tests only)";
  spec.doc = R"(Forwards every packet unchanged, except that it throws std::runtime_error on
the packets and in the hooks its parameters name. For tests of error policies and restarts.

    [stages.flaky]
    type = "test_faulty"
    fail_every = 3
    inputs.in = "src.out")";
  spec.inputs = {{"in", "any packet", {}}};
  spec.outputs = {{"out", "the same packet", {}}};
  spec.params = {
      integer_param("fail_every", 0, "throw on every Nth packet of an instance; 0: never", 0),
      integer_param("fail_after", 0,
                    "throw on every packet after the first N of an instance; 0: never", 0),
      integer_list_param("fail_sequences", std::vector<std::int64_t>{},
                         "throw on the packets with these sequence numbers", 0),
      boolean_param("fail_open", false, "throw in open"),
      boolean_param("fail_close", false, "throw in close"),
  };
  spec.make = [] { return std::make_unique<test_faulty>(); };
  spec.infer = [](const param_values&, const std::vector<port_type>& inputs) { return inputs; };
  return spec;
}

stage_spec test_record_spec() {
  stage_spec spec;
  spec.type = "test_record";
  spec.summary = "Writes the stream and sequence of every packet to a file (tests only)";
  spec.doc = R"(Writes "STREAM SEQUENCE" and a newline for every packet it receives, flushed
at once. The file is truncated in open. Use one replica.

    [stages.record]
    type = "test_record"
    path = "/tmp/received.txt"
    inputs.in = "src.out")";
  spec.inputs = {{"in", "any packet", {}}};
  spec.params = {string_param("path", std::nullopt, "file to write")};
  spec.make = [] { return std::make_unique<test_record>(); };
  return spec;
}

}  // namespace

void register_test_stages(stage_registry& registry) {
  registry.add(test_faulty_spec());
  registry.add(test_record_spec());
}

}  // namespace loom

LOOM_PLUGIN(loom::register_test_stages)
