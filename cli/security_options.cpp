#include "cli/security_options.hpp"

#include <stdexcept>

#include <CLI/CLI.hpp>

namespace loom::cli {

void add_security_options(CLI::App& command, security_args& args) {
  auto* key = command.add_option("--key", args.key_file,
                                 "this process's CURVE key pair, NAME.key from `loom keygen NAME`");
  auto* allow = command.add_option(
      "--allow", args.allow_dir,
      "folder of the public keys (NAME.pub) this process accepts and connects to; a node's key "
      "is found by the node's name");
  command
      .add_flag("--insecure", args.insecure,
                "no authentication, no encryption (trusted networks only); every log line says "
                "[INSECURE]")
      ->excludes(key)
      ->excludes(allow);
}

std::optional<security> security_from(const security_args& args) {
  if (args.insecure) return security::insecure();
  if (args.key_file.empty() && args.allow_dir.empty()) return std::nullopt;
  if (args.key_file.empty())
    throw std::invalid_argument(
        "--allow needs --key too: the CURVE key pair this process proves itself with "
        "(`loom keygen NAME` makes NAME.key)");
  return security::from_files(args.key_file, args.allow_dir);
}

}  // namespace loom::cli
