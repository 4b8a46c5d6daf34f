#include "connectors/control_codec.hpp"

#include <capnp/message.h>
#include <capnp/serialize.h>
#include <kj/exception.h>

#include <cstring>
#include <memory>

#include <fmt/format.h>

#include "connectors/wire.capnp.h"
#include "graphs/sha256.hpp"

namespace loom::control {
namespace {

namespace schema = loom::wire_schema;
using wire::wire_error;

capnp::Text::Reader text(const std::string& s) { return {s.data(), s.size()}; }
std::string str(capnp::Text::Reader t) { return {t.begin(), t.size()}; }

template <class Builder, class Range, class Fill>
void fill_list(Builder list, const Range& items, Fill fill) {
  unsigned i = 0;
  for (const auto& item : items) fill(list[i++], item);
}

void write_stats(schema::RunStats::Builder out, const run_stats& stats) {
  out.setSeconds(stats.seconds);
  out.setBytesCopied(stats.bytes_copied);
  out.setPeakRssBytes(stats.peak_rss_bytes);
  fill_list(out.initStages(static_cast<unsigned>(stats.stages.size())), stats.stages,
            [](schema::StageStats::Builder o, const auto& entry) {
              const auto& [name, s] = entry;
              o.setName(text(name));
              o.setType(text(s.type));
              o.setDevice(text(s.device));
              o.setReplicas(s.replicas);
              o.setPacketsIn(s.packets_in);
              o.setPacketsOut(s.packets_out);
              o.setDropped(s.dropped);
              o.setErrors(s.errors);
              o.setRestarts(s.restarts);
              o.setBusySeconds(s.busy_seconds);
              auto cpus = o.initCpus(static_cast<unsigned>(s.cpus.size()));
              for (unsigned i = 0; i < s.cpus.size(); ++i) cpus.set(i, s.cpus[i]);
              o.setBatches(s.batches ? static_cast<std::int64_t>(*s.batches) : -1);
              o.setBatchMean(s.batch_mean);
              fill_list(o.initCounters(static_cast<unsigned>(s.counters.size())), s.counters,
                        [](schema::Counter::Builder c, const auto& counter) {
                          c.setName(text(counter.first));
                          auto values = c.initValues(static_cast<unsigned>(counter.second.size()));
                          for (unsigned i = 0; i < counter.second.size(); ++i)
                            values.set(i, counter.second[i]);
                        });
            });
  fill_list(out.initSinks(static_cast<unsigned>(stats.sinks.size())), stats.sinks,
            [](schema::SinkStats::Builder o, const auto& entry) {
              o.setName(text(entry.first));
              o.setPackets(entry.second.packets);
              o.setBytes(entry.second.bytes);
              o.setLatencyP50Us(entry.second.latency_p50_us);
              o.setLatencyP99Us(entry.second.latency_p99_us);
            });
  fill_list(out.initEdges(static_cast<unsigned>(stats.edges.size())), stats.edges,
            [](schema::EdgeStats::Builder o, const auto& entry) {
              o.setName(text(entry.first));
              o.setSent(entry.second.sent);
              o.setDropped(entry.second.dropped);
              o.setBytesTransferred(entry.second.bytes_transferred);
              o.setPolicy(text(entry.second.policy));
              o.setCapacity(entry.second.capacity);
            });
}

run_stats read_stats(schema::RunStats::Reader in) {
  run_stats stats;
  stats.seconds = in.getSeconds();
  stats.bytes_copied = in.getBytesCopied();
  stats.peak_rss_bytes = in.getPeakRssBytes();
  for (auto s : in.getStages()) {
    auto& o = stats.stages[str(s.getName())];
    o.type = str(s.getType());
    o.device = str(s.getDevice());
    o.replicas = s.getReplicas();
    o.packets_in = s.getPacketsIn();
    o.packets_out = s.getPacketsOut();
    o.dropped = s.getDropped();
    o.errors = s.getErrors();
    o.restarts = s.getRestarts();
    o.busy_seconds = s.getBusySeconds();
    for (auto cpu : s.getCpus()) o.cpus.push_back(cpu);
    if (s.getBatches() >= 0) o.batches = static_cast<std::uint64_t>(s.getBatches());
    o.batch_mean = s.getBatchMean();
    for (auto c : s.getCounters()) {
      auto& values = o.counters[str(c.getName())];
      for (auto v : c.getValues()) values.push_back(v);
    }
  }
  for (auto s : in.getSinks()) {
    auto& o = stats.sinks[str(s.getName())];
    o.packets = s.getPackets();
    o.bytes = s.getBytes();
    o.latency_p50_us = s.getLatencyP50Us();
    o.latency_p99_us = s.getLatencyP99Us();
  }
  for (auto e : in.getEdges()) {
    auto& o = stats.edges[str(e.getName())];
    o.sent = e.getSent();
    o.dropped = e.getDropped();
    o.bytes_transferred = e.getBytesTransferred();
    o.policy = str(e.getPolicy());
    o.capacity = static_cast<std::size_t>(e.getCapacity());
  }
  return stats;
}

void write_hello(schema::Hello::Builder out, const wire::hello& h) {
  out.setLoomVersion(text(h.loom_version));
  out.setProtocolVersion(h.protocol_version);
  out.setGraphHash(text(h.graph_hash));
  out.setNodeName(text(h.node_name));
  out.setBootId(text(h.boot_id));
}

struct writer {
  schema::Control::Builder out;
  void operator()(const wire::hello& h) { write_hello(out.initHello(), h); }
  void operator()(const deploy& d) {
    auto o = out.initDeploy();
    o.setNode(text(d.node));
    o.setGraphText(text(d.graph_text));
    o.setGraphPath(text(d.graph_path));
    auto overrides = o.initOverrides(static_cast<unsigned>(d.overrides.size()));
    for (unsigned i = 0; i < d.overrides.size(); ++i) overrides.set(i, text(d.overrides[i]));
    fill_list(o.initPublicKeys(static_cast<unsigned>(d.public_keys.size())), d.public_keys,
              [](schema::NodeKey::Builder k, const auto& entry) {
                k.setNode(text(entry.first));
                k.setPublicKey(text(entry.second));
              });
  }
  void operator()(const ready&) { out.setReady(); }
  void operator()(const start&) { out.setStart(); }
  void operator()(const stop& s) { out.initStop().setAbort(s.abort); }
  void operator()(const wire::heartbeat& h) { out.initHeartbeat().setSentNs(h.sent_ns); }
  void operator()(const finished& f) {
    auto o = out.initFinished();
    switch (f.result.status) {
      case run_result::outcome::completed: o.setOutcome(schema::Outcome::COMPLETED); break;
      case run_result::outcome::interrupted: o.setOutcome(schema::Outcome::INTERRUPTED); break;
      case run_result::outcome::failed: o.setOutcome(schema::Outcome::FAILED); break;
    }
    auto failures = o.initFailures(static_cast<unsigned>(f.result.failures.size()));
    for (unsigned i = 0; i < f.result.failures.size(); ++i)
      failures.set(i, text(f.result.failures[i]));
    write_stats(o.initStats(), f.result.stats);
  }
  void operator()(const wire::peer_error& e) { out.initError().setMessage(text(e.message)); }
};

message read(schema::Control::Reader in) {
  switch (in.which()) {
    case schema::Control::HELLO: {
      auto h = in.getHello();
      return wire::hello{str(h.getLoomVersion()), h.getProtocolVersion(), str(h.getGraphHash()),
                         str(h.getNodeName()), str(h.getBootId())};
    }
    case schema::Control::DEPLOY: {
      auto d = in.getDeploy();
      deploy out{str(d.getNode()), str(d.getGraphText()), str(d.getGraphPath()), {}, {}};
      for (auto o : d.getOverrides()) out.overrides.push_back(str(o));
      for (auto k : d.getPublicKeys()) out.public_keys[str(k.getNode())] = str(k.getPublicKey());
      return out;
    }
    case schema::Control::READY: return ready{};
    case schema::Control::START: return start{};
    case schema::Control::STOP: return stop{in.getStop().getAbort()};
    case schema::Control::HEARTBEAT: return wire::heartbeat{in.getHeartbeat().getSentNs()};
    case schema::Control::FINISHED: {
      auto f = in.getFinished();
      finished out;
      switch (f.getOutcome()) {
        case schema::Outcome::COMPLETED: out.result.status = run_result::outcome::completed; break;
        case schema::Outcome::INTERRUPTED:
          out.result.status = run_result::outcome::interrupted;
          break;
        default: out.result.status = run_result::outcome::failed; break;
      }
      for (auto why : f.getFailures()) out.result.failures.push_back(str(why));
      out.result.stats = read_stats(f.getStats());
      return out;
    }
    case schema::Control::ERROR: return wire::peer_error{str(in.getError().getMessage())};
  }
  throw wire_error("unknown control message (a newer loom?)");
}

}  // namespace

std::string deployment_hash(const std::string& graph_text,
                            const std::vector<std::string>& overrides) {
  std::string bytes = graph_text;
  for (const auto& o : overrides) {
    bytes.push_back('\0');
    bytes += o;
  }
  return sha256_hex(bytes);
}

buffer encode(const message& m) {
  capnp::MallocMessageBuilder builder;
  std::visit(writer{builder.initRoot<schema::Control>()}, m);
  auto words = std::make_shared<kj::Array<capnp::word>>(capnp::messageToFlatArray(builder));
  auto* data = reinterpret_cast<std::byte*>(words->begin());
  const auto size = words->size() * sizeof(capnp::word);
  return buffer::adopt(std::move(words), data, size);
}

message decode(const buffer& frame, std::string_view peer) {
  auto size = frame.size();
  if (size == 0 || size % sizeof(capnp::word) != 0 || size > max_control_bytes)
    throw wire_error(fmt::format(
        "control message from {}: {} bytes is not a Cap'n Proto message of at most {} bytes; "
        "is the peer a loom node of the same release?",
        peer, size, max_control_bytes));
  // Control messages are few and small: always read an aligned copy.
  auto words = kj::heapArray<capnp::word>(size / sizeof(capnp::word));
  std::memcpy(words.begin(), frame.data(), size);
  capnp::ReaderOptions options;
  options.traversalLimitInWords = 2 * words.size() + 64;
  options.nestingLimit = 16;
  try {
    capnp::FlatArrayMessageReader reader(words, options);
    return read(reader.getRoot<schema::Control>());
  } catch (const kj::Exception& e) {
    throw wire_error(fmt::format("malformed control message from {}: {}", peer,
                                 e.getDescription().cStr()));
  }
}

}  // namespace loom::control
