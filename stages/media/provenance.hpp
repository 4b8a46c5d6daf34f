// Provenance: the fields every file a loom sink writes carries, so that generated media can be
// recognised as such and traced to the graph, stage and seed that made it. docs/provenance.md
// lists where each field goes in PNG, MP4 and JSON lines, and how to read it back.
#pragma once

#include <chrono>
#include <string>
#include <utility>
#include <vector>

#include "stages/packet.hpp"
#include "stages/params.hpp"
#include "stages/stage.hpp"

namespace loom {

struct provenance {
  std::string generator = "loom";
  std::string version;       // of loom
  std::string graph;         // the graph's name
  std::string graph_sha256;  // of the graph file; empty when the graph did not come from a file
  std::string stage;         // the sink's name in the graph
  std::string seed;          // empty when unknown
  std::string created;       // ISO-8601 UTC, e.g. 2026-11-25T23:04:05Z
  bool ai_generated = true;  // the content is model output

  // "loom 0.1.0"
  std::string software() const;
  // The fields as ("loom_<field>", value) pairs in a fixed order; empty fields are left out.
  std::vector<std::pair<std::string, std::string>> tags() const;
};

// The parameters every sink declares for its provenance: `seed` and `ai_generated`.
std::vector<param_spec> provenance_params();

// Provenance for a file the stage writes now. The seed is the packet's "seed" metadata when it
// has one (the model stamped what it used), else the stage's `seed` parameter.
provenance provenance_for(const stage_context& ctx, const packet* p = nullptr,
                          std::chrono::system_clock::time_point now = std::chrono::system_clock::now());

std::string iso8601_utc(std::chrono::system_clock::time_point t);

}  // namespace loom
