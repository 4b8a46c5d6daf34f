// Links stages through their inputs. Cycle detection and ordering are iterative (Kosaraju's
// components, Kahn's order), so a file with a very long chain of stages cannot exhaust the stack.
#include "graphs/link_stages.hpp"

#include <algorithm>
#include <functional>
#include <map>
#include <queue>
#include <tuple>

#include <fmt/format.h>

#include "graphs/suggest.hpp"

namespace loom {
namespace {

struct link {
  std::size_t producer;
  std::size_t consumer;
  const edge_def* edge;
  std::optional<std::size_t> output;  // index of the producer's port, when its type is known
};

diagnostic error_at(const source_position& where, std::string message) {
  return {where, std::move(message)};
}

class linker {
 public:
  linker(std::vector<stage_draft>& drafts, std::vector<diagnostic>& errors)
      : drafts_(drafts), errors_(errors), outgoing_(drafts.size()), incoming_(drafts.size()) {
    for (std::size_t i = 0; i < drafts_.size(); ++i) {
      index_.emplace(drafts_[i].def.name, i);
      names_.push_back(drafts_[i].def.name);
    }
  }

  void resolve() {
    for (std::size_t c = 0; c < drafts_.size(); ++c)
      for (const auto& edge : drafts_[c].inputs) resolve(c, edge);
  }

  // Reports one cycle per group of stages that feed each other; true if there was any.
  bool report_cycles() {
    bool any = false;
    for (const auto& component : components()) {
      bool self_loop = std::any_of(outgoing_[component[0]].begin(), outgoing_[component[0]].end(),
                                   [&](std::size_t l) { return links_[l].consumer == component[0]; });
      if (component.size() == 1 && !self_loop) continue;
      any = true;
      report_cycle(component);
    }
    return any;
  }

  // Kahn's algorithm; the queue prefers sources, then whatever comes first in the file.
  std::vector<std::size_t> order() const {
    std::vector<std::size_t> waiting(drafts_.size());
    for (const auto& l : links_) ++waiting[l.consumer];
    auto key = [&](std::size_t i) {
      const auto& d = drafts_[i].def;
      bool source = d.spec != nullptr && d.spec->is_source();
      return std::make_tuple(!source, d.where.line, d.where.column, i);
    };
    auto later = [&](std::size_t a, std::size_t b) { return key(a) > key(b); };
    std::priority_queue<std::size_t, std::vector<std::size_t>, decltype(later)> ready(later);
    for (std::size_t i = 0; i < drafts_.size(); ++i)
      if (waiting[i] == 0) ready.push(i);
    std::vector<std::size_t> out;
    while (!ready.empty()) {
      auto i = ready.top();
      ready.pop();
      out.push_back(i);
      for (auto l : outgoing_[i])
        if (--waiting[links_[l].consumer] == 0) ready.push(links_[l].consumer);
    }
    return out;
  }

  void check_replicas() {
    for (const auto& l : links_) {
      int n = drafts_[l.producer].def.replicas, m = drafts_[l.consumer].def.replicas;
      if (n == 1 || m == 1 || n == m) continue;
      errors_.push_back(error_at(
          l.edge->where,
          fmt::format("stage '{}' has replicas = {} but reads '{}.{}' from {} replicas; use "
                      "equal counts, or put a stage with replicas = 1 between them",
                      l.edge->to_stage, m, l.edge->from_stage, l.edge->from_port, n)));
    }
  }

  // In `order`, so that every producer's output types are known before its consumers'.
  void check_types(const std::vector<std::size_t>& order) {
    std::vector<std::vector<port_type>> produced(drafts_.size());
    for (auto i : order) {
      auto& draft = drafts_[i];
      if (draft.def.spec == nullptr) continue;
      const auto& spec = *draft.def.spec;
      std::vector<port_type> inputs(spec.inputs.size());
      for (auto l : incoming_[i]) {
        const auto& link = links_[l];
        auto port = spec.input_index(link.edge->to_port);
        if (!port || !link.output || produced[link.producer].empty()) continue;
        inputs[*port] = produced[link.producer][*link.output];
        check_port(*link.edge, spec.inputs[*port].accepts, inputs[*port]);
      }
      produced[i] = outputs_of(draft, inputs);
      drafts_[i].def.input_types = std::move(inputs);
      drafts_[i].def.output_types = produced[i];
    }
  }

 private:
  void resolve(std::size_t consumer, const edge_def& edge) {
    if (edge.from_stage.empty()) return;
    auto found = index_.find(edge.from_stage);
    if (found == index_.end()) {
      auto head = fmt::format("input '{}' of stage '{}' reads from unknown stage '{}'",
                              edge.to_port, edge.to_stage, edge.from_stage);
      errors_.push_back(
          error_at(edge.where, unknown_name_message(head, edge.from_stage, names_, "stages")));
      return;
    }
    auto producer = found->second;
    std::optional<std::size_t> output;
    if (const auto* spec = drafts_[producer].def.spec) {
      output = spec->output_index(edge.from_port);
      if (!output) {
        errors_.push_back(error_at(edge.where, no_output_message(*spec, edge)));
        return;
      }
    }
    outgoing_[producer].push_back(links_.size());
    incoming_[consumer].push_back(links_.size());
    links_.push_back({producer, consumer, &edge, output});
  }

  std::string no_output_message(const stage_spec& spec, const edge_def& edge) const {
    auto head = fmt::format("stage '{}' has no output port '{}'", edge.from_stage, edge.from_port);
    if (spec.outputs.empty())
      return fmt::format("{} ({} is a sink and has no outputs)", head, spec.type);
    std::vector<std::string> ports;
    for (const auto& p : spec.outputs) ports.push_back(p.name);
    return listed_name_message(head, edge.from_port, ports, "its outputs");
  }

  // Kosaraju: finishing order on the links, then components on the links reversed.
  std::vector<std::vector<std::size_t>> components() const {
    std::size_t n = drafts_.size();
    std::vector<bool> seen(n);
    std::vector<std::size_t> finished;
    for (std::size_t root = 0; root < n; ++root) {
      if (seen[root]) continue;
      std::vector<std::pair<std::size_t, std::size_t>> stack{{root, 0}};
      seen[root] = true;
      while (!stack.empty()) {
        auto& [node, next] = stack.back();
        if (next < outgoing_[node].size()) {
          auto to = links_[outgoing_[node][next++]].consumer;
          if (!seen[to]) {
            seen[to] = true;
            stack.push_back({to, 0});
          }
        } else {
          finished.push_back(node);
          stack.pop_back();
        }
      }
    }
    std::vector<bool> assigned(n);
    std::vector<std::vector<std::size_t>> out;
    for (auto it = finished.rbegin(); it != finished.rend(); ++it) {
      if (assigned[*it]) continue;
      std::vector<std::size_t> component{*it};
      assigned[*it] = true;
      for (std::size_t k = 0; k < component.size(); ++k)
        for (auto l : incoming_[component[k]]) {
          auto from = links_[l].producer;
          if (!assigned[from]) {
            assigned[from] = true;
            component.push_back(from);
          }
        }
      out.push_back(std::move(component));
    }
    return out;
  }

  // The shortest cycle through the component's first stage in the file, reported at the input
  // of that stage which closes it.
  void report_cycle(const std::vector<std::size_t>& component) {
    auto position = [&](std::size_t i) {
      const auto& w = drafts_[i].def.where;
      return std::make_tuple(w.line, w.column, drafts_[i].def.name);
    };
    auto start = *std::min_element(component.begin(), component.end(),
                                   [&](auto a, auto b) { return position(a) < position(b); });
    std::vector<bool> inside(drafts_.size());
    for (auto i : component) inside[i] = true;
    std::map<std::size_t, std::size_t> reached_by;  // stage -> link it was first reached through
    std::queue<std::size_t> frontier;
    frontier.push(start);
    while (!frontier.empty()) {
      auto node = frontier.front();
      frontier.pop();
      for (auto l : outgoing_[node]) {
        auto to = links_[l].consumer;
        if (to == start) {
          std::vector<std::string> path{drafts_[start].def.name};
          for (auto at = node; at != start; at = links_[reached_by.at(at)].producer)
            path.insert(path.begin() + 1, drafts_[at].def.name);
          path.push_back(drafts_[start].def.name);
          errors_.push_back(error_at(
              links_[l].edge->where,
              fmt::format("cycle: {}; loom graphs must be acyclic (feedback edges are not "
                          "supported)",
                          fmt::join(path, " -> "))));
          return;
        }
        if (inside[to] && !reached_by.count(to)) {
          reached_by.emplace(to, l);
          frontier.push(to);
        }
      }
    }
  }

  void check_port(const edge_def& edge, const port_type& accepts, const port_type& given) {
    if (accepts.type && given.type && *accepts.type != *given.type)
      errors_.push_back(error_at(
          edge.where, fmt::format("stage '{}' input '{}' takes {} tensors but '{}.{}' produces {}",
                                  edge.to_stage, edge.to_port, name_of(*accepts.type),
                                  edge.from_stage, edge.from_port, name_of(*given.type))));
    if (accepts.rank && given.rank && *accepts.rank != *given.rank)
      errors_.push_back(error_at(
          edge.where,
          fmt::format("stage '{}' input '{}' takes rank {} tensors but '{}.{}' produces rank {}",
                      edge.to_stage, edge.to_port, *accepts.rank, edge.from_stage,
                      edge.from_port, *given.rank)));
  }

  // What a stage's outputs carry: inferred from its parameters and inputs when its type can,
  // else what its output ports declare.
  std::vector<port_type> outputs_of(const stage_draft& draft,
                                    const std::vector<port_type>& inputs) {
    const auto& spec = *draft.def.spec;
    std::vector<port_type> declared;
    for (const auto& p : spec.outputs) declared.push_back(p.accepts);
    if (!spec.infer || !draft.params_complete) return declared;
    auto failed = [&](const std::string& why) {
      errors_.push_back(error_at(
          draft.def.where, fmt::format("stage '{}' ({}): its type could not work out its output "
                                       "types: {}",
                                       draft.def.name, spec.type, why)));
      return declared;
    };
    try {
      auto inferred = spec.infer(draft.def.values, inputs);
      if (inferred.size() != spec.outputs.size())
        return failed(fmt::format("{} types for {} output ports", inferred.size(),
                                  spec.outputs.size()));
      return inferred;
    } catch (const std::exception& e) {
      return failed(e.what());
    }
  }

  std::vector<stage_draft>& drafts_;
  std::vector<diagnostic>& errors_;
  std::map<std::string, std::size_t, std::less<>> index_;
  std::vector<std::string> names_;
  std::vector<link> links_;
  std::vector<std::vector<std::size_t>> outgoing_;  // link indices, per producer
  std::vector<std::vector<std::size_t>> incoming_;  // link indices, per consumer
};

}  // namespace

void link_stages(std::vector<stage_draft> drafts, graph_def& graph,
                 std::vector<diagnostic>& errors) {
  linker links(drafts, errors);
  links.resolve();
  links.check_replicas();
  if (links.report_cycles()) return;
  auto order = links.order();
  links.check_types(order);
  for (auto i : order) {
    auto& draft = drafts[i];
    if (const auto* spec = draft.def.spec)
      std::stable_sort(draft.inputs.begin(), draft.inputs.end(), [&](const auto& a, const auto& b) {
        return spec->input_index(a.to_port) < spec->input_index(b.to_port);
      });
    draft.def.inputs = std::move(draft.inputs);
    graph.stages.push_back(std::move(draft.def));
  }
}

}  // namespace loom
