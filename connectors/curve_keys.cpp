// CURVE key files and allow-lists (see curve_keys.hpp for the format). Key files are hostile
// input like any other: their size is capped before reading, every line is checked, and errors
// name FILE:LINE without echoing a secret.
#include "connectors/curve_keys.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <ctime>
#include <optional>
#include <stdexcept>
#include <system_error>

#include <fmt/format.h>
#include <zmq.h>

namespace fs = std::filesystem;

namespace loom {
namespace {

constexpr std::string_view z85_alphabet =
    "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#";

// A key file is three comment lines and two keys; anything near this size is the wrong file.
constexpr off_t max_key_file_bytes = 16 * 1024;

std::string errno_text(int error) { return std::error_code(error, std::generic_category()).message(); }

// Closes a file descriptor on every path out.
struct file_descriptor {
  int fd = -1;
  ~file_descriptor() {
    if (fd >= 0) ::close(fd);
  }
};

struct key_line {
  std::string value;
  int line = 0;
};

struct key_file_contents {
  std::optional<key_line> public_key;
  std::optional<key_line> secret_key;
};

std::string_view trim(std::string_view s) {
  auto first = s.find_first_not_of(" \t\r");
  if (first == std::string_view::npos) return {};
  auto last = s.find_last_not_of(" \t\r");
  return s.substr(first, last - first + 1);
}

// Why `text` is not a Z85 key, or "" when it is one. `column` gets the 0-based position of a bad
// character, where there is one.
std::string z85_problem(std::string_view text, std::size_t* column = nullptr) {
  if (text.size() != curve_key_text_size)
    return fmt::format("is {} characters long; a CURVE key is {} characters of Z85 (was it cut "
                       "short or joined with something when copied?)",
                       text.size(), curve_key_text_size);
  for (std::size_t group = 0; group < text.size(); group += 5) {
    std::uint64_t value = 0;
    for (std::size_t i = group; i < group + 5; ++i) {
      auto digit = z85_alphabet.find(text[i]);
      if (digit == std::string_view::npos) {
        if (column) *column = i;
        auto shown = static_cast<unsigned char>(text[i]) >= 0x21 && static_cast<unsigned char>(text[i]) < 0x7f
                         ? fmt::format("'{}'", text[i])
                         : fmt::format("byte 0x{:02x}", static_cast<unsigned char>(text[i]));
        return fmt::format("has {} at character {}, which is not in the Z85 alphabet", shown, i + 1);
      }
      value = value * 85 + digit;
    }
    if (value > 0xffffffffu)
      return fmt::format("is not valid Z85: characters {}-{} encode a value over 32 bits", group + 1,
                         group + 5);
  }
  return {};
}

// Opens `path` for reading and returns its contents, refusing non-regular and oversized files.
// `secret` also refuses a file that group or others may read.
std::string read_key_text(const fs::path& path, bool secret) {
  file_descriptor file{::open(path.c_str(), O_RDONLY | O_CLOEXEC)};
  if (file.fd < 0)
    throw std::runtime_error(fmt::format("{}: cannot open the {} key file: {}", path.string(),
                                         secret ? "secret" : "public", errno_text(errno)));
  struct stat info {};
  if (::fstat(file.fd, &info) != 0)
    throw std::runtime_error(fmt::format("{}: cannot stat: {}", path.string(), errno_text(errno)));
  if (!S_ISREG(info.st_mode))
    throw std::runtime_error(fmt::format("{}: not a regular file; expected a key file written by "
                                         "`loom keygen`", path.string()));
  if (secret && (info.st_mode & 077) != 0)
    throw std::runtime_error(fmt::format(
        "{}: the secret key file can be read by {} (mode {:04o}); anyone who reads it can pose as "
        "this node. Run `chmod 600 {}` (and if others may have copied it, make a new pair with "
        "`loom keygen --force`)",
        path.string(), (info.st_mode & 070) ? "its group" : "other users", info.st_mode & 0777,
        path.string()));
  if (info.st_size > max_key_file_bytes)
    throw std::runtime_error(fmt::format("{}: {} bytes; a key file is under 1 KiB — is this the "
                                         "right file?", path.string(), info.st_size));
  std::string text(static_cast<std::size_t>(info.st_size), '\0');
  std::size_t done = 0;
  while (done < text.size()) {
    auto n = ::read(file.fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0)
      throw std::runtime_error(fmt::format("{}: cannot read: {}", path.string(), errno_text(errno)));
    if (n == 0) break;
    done += static_cast<std::size_t>(n);
  }
  text.resize(done);
  return text;
}

key_file_contents parse_key_text(const fs::path& path, std::string_view text) {
  key_file_contents found;
  int number = 0;
  std::size_t at = 0;
  while (at <= text.size()) {
    auto end = text.find('\n', at);
    if (end == std::string_view::npos) end = text.size();
    auto raw = text.substr(at, end - at);
    auto line = trim(raw);
    at = end + 1;
    ++number;
    if (line.empty() || line.front() == '#') continue;
    auto where = fmt::format("{}:{}", path.string(), number);
    auto equals = line.find('=');
    if (equals == std::string_view::npos)
      throw std::runtime_error(fmt::format(
          "{}: expected `public = \"<40 Z85 characters>\"` or `secret = \"...\"`, a comment "
          "(#) or a blank line", where));
    auto name = trim(line.substr(0, equals));
    auto value = trim(line.substr(equals + 1));
    if (name != "public" && name != "secret")
      throw std::runtime_error(fmt::format(
          "{}: unknown key `{}`; a key file holds only `public` and `secret`", where,
          name.substr(0, 32)));
    if (value.size() < 2 || value.front() != '"' || value.back() != '"')
      throw std::runtime_error(fmt::format("{}: the {} key must be in double quotes: {} = \"<40 "
                                           "Z85 characters>\"", where, name, name));
    value = value.substr(1, value.size() - 2);
    auto column = std::string_view::npos;
    if (auto problem = z85_problem(value, &column); !problem.empty()) {
      if (column != std::string_view::npos)  // 1-based column of the bad character in the file
        where += fmt::format(":{}", (value.data() - raw.data()) + column + 1);
      throw std::runtime_error(fmt::format("{}: the {} key {}", where, name, problem));
    }
    auto& slot = name == "public" ? found.public_key : found.secret_key;
    if (slot)
      throw std::runtime_error(fmt::format("{}: a second `{}` key (the first is on line {}); a key "
                                           "file holds one of each", where, name, slot->line));
    slot = key_line{std::string(value), number};
  }
  return found;
}

std::string today() {
  auto now = std::time(nullptr);
  std::tm utc{};
  gmtime_r(&now, &utc);
  char text[16];
  std::strftime(text, sizeof text, "%Y-%m-%d", &utc);
  return text;
}

// Writes `text` beside `target`, then moves it into place: rename when replacing, link when not
// (link fails if `target` appeared meanwhile, so nothing is overwritten by a race).
void write_whole_file(const fs::path& target, const std::string& text, mode_t mode, bool overwrite) {
  auto aside = target.parent_path() /
               fmt::format(".{}.tmp-{}", target.filename().string(), static_cast<long>(::getpid()));
  ::unlink(aside.c_str());
  {
    file_descriptor file{::open(aside.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode)};
    if (file.fd < 0)
      throw std::runtime_error(fmt::format("{}: cannot create: {}", aside.string(), errno_text(errno)));
    std::size_t done = 0;
    bool written = ::fchmod(file.fd, mode) == 0;
    while (written && done < text.size()) {
      auto n = ::write(file.fd, text.data() + done, text.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) written = false;
      else done += static_cast<std::size_t>(n);
    }
    if (!written || ::fsync(file.fd) != 0) {
      auto error = errno;
      ::unlink(aside.c_str());
      throw std::runtime_error(fmt::format("{}: cannot write: {}", target.string(), errno_text(error)));
    }
  }
  int moved = overwrite ? ::rename(aside.c_str(), target.c_str()) : ::link(aside.c_str(), target.c_str());
  auto error = errno;
  if (!overwrite || moved != 0) ::unlink(aside.c_str());
  if (moved != 0) {
    if (error == EEXIST)
      throw std::runtime_error(fmt::format("{}: already exists; refusing to replace it", target.string()));
    throw std::runtime_error(fmt::format("{}: cannot write: {}", target.string(), errno_text(error)));
  }
}

}  // namespace

void require_curve() {
  if (!zmq_has("curve"))
    throw std::runtime_error(
        "this libzmq cannot do CURVE security (zmq_has(\"curve\") is false): install a libzmq built "
        "with CURVE (libsodium or its bundled tweetnacl, as distribution packages are), or run with "
        "--insecure on a trusted network");
}

curve_key_pair generate_curve_key_pair() {
  require_curve();
  char public_key[curve_key_text_size + 1] = {};
  char secret_key[curve_key_text_size + 1] = {};
  if (zmq_curve_keypair(public_key, secret_key) != 0)
    throw std::runtime_error(fmt::format("cannot make a CURVE key pair: {}", zmq_strerror(zmq_errno())));
  curve_key_pair pair{public_key, secret_key};
  std::memset(secret_key, 0, sizeof secret_key);
  return pair;
}

void check_key_name(const std::string& name) {
  auto allowed = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-';
  };
  if (name.empty() || name.size() > 64 || name.front() == '.' ||
      !std::all_of(name.begin(), name.end(), allowed))
    throw std::invalid_argument(fmt::format(
        "key name '{}': use 1 to 64 letters, digits, '.', '_' or '-', not starting with '.' (it "
        "names the files NAME.key and NAME.pub; the folder goes in --out), e.g. gpu-node-1",
        name.substr(0, 80)));
}

key_files write_key_pair(const curve_key_pair& keys, const fs::path& dir, const std::string& name,
                         bool overwrite) {
  check_key_name(name);
  if (!is_curve_key_text(keys.public_key) || !is_curve_key_text(keys.secret_key))
    throw std::invalid_argument("write_key_pair: the keys are not 40-character Z85 CURVE keys");
  std::error_code error;
  fs::create_directories(dir, error);
  if (error)
    throw std::runtime_error(fmt::format("{}: cannot create the folder: {}", dir.string(), error.message()));
  key_files files{dir / (name + ".key"), dir / (name + ".pub")};
  if (!overwrite) {
    for (const auto& path : {files.secret_file, files.public_file})
      if (fs::exists(fs::symlink_status(path)))
        throw std::runtime_error(fmt::format(
            "{}: already exists; refusing to replace it. Replacing a key pair locks this node out of "
            "every node that allow-listed the old {}.pub until they get the new one; if that is "
            "what you want, pass --force",
            path.string(), name));
  }
  auto date = today();
  write_whole_file(files.secret_file,
                   fmt::format("# loom CURVE key pair \"{}\", made by `loom keygen` on {}.\n"
                               "# SECRET: keep this file on this machine, readable by you alone "
                               "(chmod 600).\n"
                               "# Give {}.pub, never this file, to the nodes that should accept "
                               "\"{}\".\n"
                               "public = \"{}\"\nsecret = \"{}\"\n",
                               name, date, name, name, keys.public_key, keys.secret_key),
                   0600, overwrite);
  write_whole_file(files.public_file,
                   fmt::format("# loom CURVE public key \"{}\", made by `loom keygen` on {}.\n"
                               "# Safe to share: copy it into the allow-list folder of every node "
                               "that should accept \"{}\".\n"
                               "public = \"{}\"\n",
                               name, date, name, keys.public_key),
                   0644, overwrite);
  return files;
}

curve_key_pair read_key_pair(const fs::path& key_file) {
  auto contents = parse_key_text(key_file, read_key_text(key_file, true));
  if (!contents.secret_key)
    throw std::runtime_error(fmt::format(
        "{}: no `secret = \"...\"` line; a NAME.key file written by `loom keygen NAME` holds both "
        "keys (is this a .pub file?)", key_file.string()));
  if (!contents.public_key)
    throw std::runtime_error(fmt::format(
        "{}: no `public = \"...\"` line; a NAME.key file written by `loom keygen NAME` holds both "
        "keys", key_file.string()));
  require_curve();
  char derived[curve_key_text_size + 1] = {};
  if (zmq_curve_public(derived, contents.secret_key->value.c_str()) != 0 ||
      contents.public_key->value != derived)
    throw std::runtime_error(fmt::format(
        "{}:{}: this public key does not belong to the secret key on line {}; the file was edited "
        "or mixed up with another pair. Make a new pair with `loom keygen --force NAME`",
        key_file.string(), contents.public_key->line, contents.secret_key->line));
  return {contents.public_key->value, contents.secret_key->value};
}

std::string read_public_key(const fs::path& public_file) {
  auto contents = parse_key_text(public_file, read_key_text(public_file, false));
  if (contents.secret_key)
    throw std::runtime_error(fmt::format(
        "{}:{}: this file holds a secret key; a public key file (NAME.pub) holds only `public = "
        "\"...\"`. Never copy a .key file to other nodes; if that happened, make a new pair with "
        "`loom keygen --force NAME`",
        public_file.string(), contents.secret_key->line));
  if (!contents.public_key)
    throw std::runtime_error(fmt::format("{}: no `public = \"...\"` line; expected a NAME.pub file "
                                         "written by `loom keygen NAME`", public_file.string()));
  return contents.public_key->value;
}

bool is_curve_key_text(std::string_view text) { return z85_problem(text).empty(); }

allow_list allow_list::from_directory(const fs::path& dir) {
  std::error_code error;
  if (!fs::is_directory(dir, error))
    throw std::runtime_error(fmt::format(
        "allow-list folder {} does not exist; create it and copy into it the NAME.pub file of every "
        "node that may connect here (`loom keygen NAME` makes them)", dir.string()));
  std::vector<fs::path> files;
  for (fs::directory_iterator entry(dir, error), end; !error && entry != end; entry.increment(error)) {
    const auto& path = entry->path();
    if (!entry->is_regular_file(error)) continue;
    if (path.extension() == ".key")
      throw std::runtime_error(fmt::format(
          "{}: a secret key file in an allow-list folder; move it out (allow-lists take NAME.pub "
          "files only), and if it was copied from another node, make that node a new pair with "
          "`loom keygen --force`", path.string()));
    if (path.extension() == ".pub") files.push_back(path);
  }
  if (error)
    throw std::runtime_error(fmt::format("{}: cannot list the allow-list folder: {}", dir.string(),
                                         error.message()));
  if (files.empty())
    throw std::runtime_error(fmt::format(
        "allow-list folder {} holds no .pub file, so every client would be refused; copy into it the "
        "NAME.pub file of every node that may connect here (`loom keygen NAME` makes them)",
        dir.string()));
  std::sort(files.begin(), files.end());
  return from_files(files);
}

allow_list allow_list::from_files(const std::vector<fs::path>& files) {
  allow_list list;
  for (const auto& file : files) list.add(read_public_key(file), file.stem().string());
  return list;
}

void allow_list::add(const std::string& public_key, const std::string& name) {
  if (auto problem = z85_problem(public_key); !problem.empty())
    throw std::invalid_argument(fmt::format("allow-list entry '{}': the public key {}", name, problem));
  names_.emplace(public_key, name);
}

bool allow_list::contains(std::string_view public_key) const { return names_.count(public_key) > 0; }

std::string allow_list::name_of(std::string_view public_key) const {
  auto found = names_.find(public_key);
  return found == names_.end() ? std::string() : found->second;
}

}  // namespace loom
