// The security flags `loom run` and `loom node` share: --key FILE and --allow DIR (CURVE, see
// `loom keygen`), or --insecure.
#pragma once

#include <optional>
#include <string>

#include "connectors/secure_socket.hpp"

namespace CLI {
class App;
}

namespace loom::cli {

struct security_args {
  std::string key_file;
  std::string allow_dir;
  bool insecure = false;
};

void add_security_options(CLI::App& command, security_args& args);

// None when no flag was given; throws, saying how to fix it, for contradictory flags or
// unreadable files.
std::optional<security> security_from(const security_args& args);

}  // namespace loom::cli
