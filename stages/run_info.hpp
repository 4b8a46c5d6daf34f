// What every stage may know about the run it is part of: for provenance in written media and
// for messages.
#pragma once

#include <string>

namespace loom {

struct run_info {
  std::string graph_name;
  std::string graph_file;    // as given on the command line
  std::string graph_sha256;  // of the graph file's bytes, lowercase hex; empty if not from a file
  std::string loom_version;
};

}  // namespace loom
