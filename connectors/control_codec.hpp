// The control plane's messages (wire.capnp, `Control`) as C++ values and single ZeroMQ frames:
// what the coordinator and the nodes of a deployment say to each other. Reading applies the same
// care as the data plane's codec — a size limit before anything is read, a traversal and nesting
// limit while reading, every failure a wire_error naming the peer — even though both ends are
// authenticated nodes: a bug on one node must not crash another.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "actors/runtime.hpp"
#include "connectors/wire_codec.hpp"

namespace loom::control {

// Control messages larger than this are refused; a graph file is at most 4 MiB.
constexpr std::size_t max_control_bytes = 16 << 20;

struct deploy {
  std::string node;
  std::string graph_text;
  std::string graph_path;
  std::vector<std::string> overrides;
  std::map<std::string, std::string> public_keys;  // node -> Z85 public key
};
struct ready {};
struct start {};
struct stop {
  bool abort = false;
};
struct finished {
  run_result result;  // outcome, failures and the part's stats
};

using message = std::variant<wire::hello, deploy, ready, start, stop, wire::heartbeat, finished,
                             wire::peer_error>;

// What both sides of a deployment put in their hellos' graphHash: the SHA-256 of the graph text
// and the --set overrides, so nodes running anything else refuse each other.
std::string deployment_hash(const std::string& graph_text, const std::vector<std::string>& overrides);

buffer encode(const message& m);
// Throws wire::wire_error for anything malformed or over max_control_bytes.
message decode(const buffer& frame, std::string_view peer);

}  // namespace loom::control
