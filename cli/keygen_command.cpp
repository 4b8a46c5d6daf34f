// `loom keygen [--out DIR] [--force] NAME`: makes a node's CURVE key pair, DIR/NAME.key (secret,
// mode 0600) and DIR/NAME.pub (public), and says what to do with each: the .pub goes into the
// allow-list folder of every node that should accept this one, the .key never leaves the machine.
#include <cstdio>
#include <filesystem>
#include <stdexcept>

#include <CLI/CLI.hpp>

#include "cli/commands.hpp"
#include "connectors/curve_keys.hpp"

namespace loom::cli {

CLI::App* add_keygen_command(CLI::App& app, keygen_args& args) {
  auto* keygen = app.add_subcommand(
      "keygen", "Make a CURVE key pair for a node: NAME.key (secret) and NAME.pub (public).");
  keygen->add_option("NAME", args.name,
                     "the node's name; it names the files (letters, digits, '.', '_', '-')")
      ->required();
  keygen->add_option("--out", args.out_dir, "folder to write the files in (created if missing)")
      ->capture_default_str();
  keygen->add_flag("--force", args.force,
                   "replace an existing pair (nodes that allow-listed the old NAME.pub will refuse "
                   "this node until they get the new one)");
  keygen->footer(
      "Nodes of a loom cluster authenticate each other and encrypt their traffic with CURVE keys.\n"
      "Each node has one key pair; a node accepts only the nodes whose NAME.pub file is in its\n"
      "allow-list folder.\n"
      "\n"
      "  loom keygen gpu1                      writes ./gpu1.key and ./gpu1.pub\n"
      "  loom keygen --out ~/.loom/keys gpu1\n"
      "\n"
      "NAME.key holds the secret key: it stays on this machine, readable by you alone (mode 0600;\n"
      "loom refuses a key file others can read). NAME.pub holds the public key only: copy it into\n"
      "the allow-list folder of every node that should accept this one, and theirs into this\n"
      "node's. Without keys, loom nodes refuse to start unless given --insecure, which runs\n"
      "unauthenticated and unencrypted: for trusted networks only. See docs/connectors.md.");
  return keygen;
}

int keygen_command(const keygen_args& args) {
  key_files files;
  try {
    check_key_name(args.name);
    files = write_key_pair(generate_curve_key_pair(), args.out_dir, args.name, args.force);
  } catch (const std::invalid_argument& e) {
    std::fprintf(stderr, "loom: error: %s\n", e.what());
    return exit_invalid;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "loom: error: %s\n", e.what());
    return exit_runtime_failure;
  }
  auto shown = [](const std::filesystem::path& path) {
    return std::filesystem::absolute(path).lexically_normal().string();
  };
  const auto& name = args.name;
  std::printf(
      "Wrote the CURVE key pair of \"%s\":\n"
      "  %s  secret and public key (mode 0600): keep it on this machine, never copy it\n"
      "  %s  public key: safe to share\n"
      "\n"
      "Next:\n"
      "  1. Copy %s.pub into the allow-list folder of every node that should accept \"%s\",\n"
      "     e.g. scp %s OTHER-HOST:ALLOW-LIST-FOLDER/\n"
      "  2. Copy the .pub files of the nodes that may connect to \"%s\" into its allow-list folder.\n"
      "  3. Start the node with %s.key and that folder (docs/connectors.md, section Security).\n",
      name.c_str(), shown(files.secret_file).c_str(), shown(files.public_file).c_str(), name.c_str(),
      name.c_str(), shown(files.public_file).c_str(), name.c_str(), name.c_str());
  return exit_ok;
}

}  // namespace loom::cli
