#include "stages/media/provenance.hpp"

#include <ctime>

#include <fmt/format.h>

namespace loom {

std::string provenance::software() const { return version.empty() ? generator : generator + " " + version; }

std::vector<std::pair<std::string, std::string>> provenance::tags() const {
  std::vector<std::pair<std::string, std::string>> out;
  auto add = [&out](const char* key, const std::string& value) {
    if (!value.empty()) out.emplace_back(key, value);
  };
  add("loom_generator", generator);
  add("loom_version", version);
  add("loom_graph", graph);
  add("loom_graph_sha256", graph_sha256);
  add("loom_stage", stage);
  add("loom_seed", seed);
  add("loom_created", created);
  add("loom_ai_generated", ai_generated ? "true" : "false");
  return out;
}

std::vector<param_spec> provenance_params() {
  return {
      string_param("seed", "",
                   "seed recorded in the provenance of written files; a packet's \"seed\" "
                   "metadata takes precedence; empty: none recorded"),
      boolean_param("ai_generated", true,
                    "mark written files as model output (loom_ai_generated); false for media "
                    "that was only transcoded"),
  };
}

provenance provenance_for(const stage_context& ctx, const packet* p,
                          std::chrono::system_clock::time_point now) {
  provenance out;
  const auto& run = ctx.run();
  out.version = run.loom_version;
  out.graph = run.graph_name;
  out.graph_sha256 = run.graph_sha256;
  out.stage = ctx.name();
  const auto& params = ctx.params();
  if (params.has("seed")) out.seed = params.string("seed");
  if (params.has("ai_generated")) out.ai_generated = params.boolean("ai_generated");
  if (p != nullptr)
    if (const auto* seed = p->meta("seed")) out.seed = *seed;
  out.created = iso8601_utc(now);
  return out;
}

std::string iso8601_utc(std::chrono::system_clock::time_point t) {
  std::time_t seconds = std::chrono::system_clock::to_time_t(t);
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z", utc.tm_year + 1900, utc.tm_mon + 1,
                     utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec);
}

}  // namespace loom
