// CURVE key pairs and allow-lists as files: how a node proves who it is to the nodes it connects
// to, and how a node decides whom it accepts. `loom keygen NAME` writes two small text files:
//
//   NAME.key  (mode 0600; this machine only)     NAME.pub  (give it to the other nodes)
//   # loom CURVE key pair ... keep private       # loom CURVE public key ...
//   public = "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7"   public = "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7"
//   secret = "JTKVSB%%)wK0E.X)V>+}o?pNmC{O&4W4b!Ni{Lh6"
//
// Keys are Z85 text (40 characters for 32 bytes), the form libzmq takes. The format is a subset of
// TOML so any TOML reader can read it, but it is parsed here line by line so that every error
// names FILE:LINE. A secret key file that others can read is refused, as ssh refuses one.
// An allow-list is the set of public keys in a folder of .pub files: copying NAME.pub into a
// node's allow-list folder is how that node comes to accept NAME.
//
// This header is public (the CLI includes it): it must not include ZeroMQ's headers.
#pragma once

#include <cstddef>
#include <filesystem>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace loom {

// Z85 text of a 32-byte CURVE key.
constexpr std::size_t curve_key_text_size = 40;

struct curve_key_pair {
  std::string public_key;  // Z85, 40 characters; may be shared
  std::string secret_key;  // Z85, 40 characters; never leaves this machine
};

// Throws, saying how to fix it, when the linked libzmq cannot do CURVE (zmq_has("curve")).
void require_curve();

// A fresh pair from libzmq's CSPRNG (zmq_curve_keypair).
curve_key_pair generate_curve_key_pair();

// Key names become file names: letters, digits, '.', '_' and '-', not starting with '.', at
// most 64 characters. Throws std::invalid_argument otherwise.
void check_key_name(const std::string& name);

struct key_files {
  std::filesystem::path secret_file;  // DIR/NAME.key
  std::filesystem::path public_file;  // DIR/NAME.pub
};

// Writes DIR/NAME.key (public + secret, mode 0600) and DIR/NAME.pub (public only), creating DIR.
// Refuses to replace either file unless `overwrite`: nodes that allow-listed the old NAME.pub
// would refuse this node after it. Each file appears whole or not at all (written aside, then
// renamed).
key_files write_key_pair(const curve_key_pair& keys, const std::filesystem::path& dir,
                         const std::string& name, bool overwrite = false);

// Reads a NAME.key file. Refuses one that group or others may read (`chmod 600 FILE`), one whose
// public key does not belong to its secret key, and malformed ones, naming FILE:LINE.
curve_key_pair read_key_pair(const std::filesystem::path& key_file);

// Reads the public key of a NAME.pub file. Refuses a file that holds a secret key: secrets do not
// belong in allow-lists.
std::string read_public_key(const std::filesystem::path& public_file);

// True when `text` is 40 characters of valid Z85 (alphabet and range).
bool is_curve_key_text(std::string_view text);

// The public keys a server accepts, each with the name of the file it came from (logged when a
// client is accepted).
class allow_list {
 public:
  // Every *.pub file in `dir` (other files are ignored). Throws when `dir` is missing or holds
  // no .pub file: a server with an empty allow-list would refuse every client.
  static allow_list from_directory(const std::filesystem::path& dir);
  // Exactly these .pub files.
  static allow_list from_files(const std::vector<std::filesystem::path>& files);

  // Adds a Z85 public key; throws std::invalid_argument when it is not one.
  void add(const std::string& public_key, const std::string& name);
  bool contains(std::string_view public_key) const;
  // The name the key was added under, or "" when the key is not on the list.
  std::string name_of(std::string_view public_key) const;
  std::size_t size() const { return names_.size(); }
  bool empty() const { return names_.empty(); }

 private:
  std::map<std::string, std::string, std::less<>> names_;  // Z85 public key -> name
};

}  // namespace loom
