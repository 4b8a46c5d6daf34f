// CURVE security end to end over tcp on 127.0.0.1: an allow-listed client talks to a server; a
// client whose key is not on the allow-list, one that has the wrong server key, a plain (NULL)
// client and any client once the ZAP handler is gone never get a message through. Key files
// round-trip, malformed ones are refused with FILE:LINE, readable secret files are refused, and
// the start-up check refuses to run without keys unless insecure was asked for.
#include <boost/test/unit_test.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <future>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <zmq.h>

#include "connectors/curve_keys.hpp"
#include "connectors/secure_socket.hpp"
#include "connectors/zap_handler.hpp"

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using loom::allow_list;
using loom::curve_key_pair;
using loom::security;
using loom::zap_handler;

namespace {

struct temp_dir {
  fs::path path;
  temp_dir() {
    static int count = 0;
    path = fs::temp_directory_path() /
           ("loom-curve-" + std::to_string(getpid()) + "-" + std::to_string(count++));
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~temp_dir() { fs::remove_all(path); }
};

// A ZeroMQ socket closed (without lingering) when the test ends.
struct socket_handle {
  void* socket;
  socket_handle(void* context, int type) : socket(zmq_socket(context, type)) {
    BOOST_REQUIRE(socket);
    int linger = 0;
    zmq_setsockopt(socket, ZMQ_LINGER, &linger, sizeof linger);
  }
  ~socket_handle() { zmq_close(socket); }
  operator void*() const { return socket; }
};

// The ZAP handler logs from its own thread.
struct log_capture {
  std::mutex mutex;
  std::vector<std::string> lines;
  zap_handler::log_fn sink() {
    return [this](const std::string& line) {
      std::lock_guard lock(mutex);
      lines.push_back(line);
    };
  }
  std::string text() {
    std::lock_guard lock(mutex);
    std::string all;
    for (const auto& line : lines) all += line + "\n";
    return all;
  }
};

// One context per test, terminated after the test's sockets and handler are gone.
struct context_fixture {
  void* context = zmq_ctx_new();
  curve_key_pair server_keys = loom::generate_curve_key_pair();
  curve_key_pair client_keys = loom::generate_curve_key_pair();
  curve_key_pair stranger_keys = loom::generate_curve_key_pair();
  log_capture log;

  ~context_fixture() { zmq_ctx_term(context); }

  // Server settings that allow-list the client's key under the name "client".
  security server_settings() const {
    allow_list allowed;
    allowed.add(client_keys.public_key, "client");
    return security::curve(server_keys, allowed);
  }
};

std::string bind_ephemeral(void* socket) {
  BOOST_REQUIRE_EQUAL(zmq_bind(socket, "tcp://127.0.0.1:*"), 0);
  char endpoint[256] = {};
  std::size_t size = sizeof endpoint;
  BOOST_REQUIRE_EQUAL(zmq_getsockopt(socket, ZMQ_LAST_ENDPOINT, endpoint, &size), 0);
  return endpoint;
}

// One frame, or nothing within `timeout`. `user_id` gets the frame's ZAP User-Id property.
std::optional<std::string> receive(void* socket, std::chrono::milliseconds timeout,
                                   std::string* user_id = nullptr) {
  zmq_pollitem_t item{socket, 0, ZMQ_POLLIN, 0};
  if (zmq_poll(&item, 1, static_cast<long>(timeout.count())) <= 0) return std::nullopt;
  zmq_msg_t message;
  zmq_msg_init(&message);
  BOOST_REQUIRE(zmq_msg_recv(&message, socket, 0) >= 0);
  std::string text(static_cast<const char*>(zmq_msg_data(&message)), zmq_msg_size(&message));
  if (user_id) {
    const char* value = zmq_msg_gets(&message, "User-Id");
    *user_id = value ? value : "";
  }
  zmq_msg_close(&message);
  return text;
}

void send(void* socket, const std::string& text, int flags = 0) {
  BOOST_REQUIRE_EQUAL(zmq_send(socket, text.data(), text.size(), flags), static_cast<int>(text.size()));
}

bool wait_until(const std::function<bool()>& done, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(10ms);
  }
  return true;
}

// A client that tries once: a refused handshake is not retried, so refusals can be counted.
void connect_once(void* client, const std::string& endpoint) {
  int no_reconnect = -1;
  BOOST_REQUIRE_EQUAL(zmq_setsockopt(client, ZMQ_RECONNECT_IVL, &no_reconnect, sizeof no_reconnect), 0);
  BOOST_REQUIRE_EQUAL(zmq_connect(client, endpoint.c_str()), 0);
}

std::string error_of(const std::function<void()>& action) {
  try {
    action();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "";
}

void write_text(const fs::path& path, const std::string& text, fs::perms mode = fs::perms::owner_read |
                                                                               fs::perms::owner_write) {
  std::ofstream(path) << text;
  fs::permissions(path, mode);
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(sockets)

BOOST_FIXTURE_TEST_CASE(an_allowed_client_exchanges_messages_with_a_server, context_fixture) {
  auto settings = server_settings();
  auto zap = loom::start_zap_handler(context, settings, log.sink());
  BOOST_REQUIRE(zap);
  socket_handle server(context, ZMQ_ROUTER);
  loom::configure_server(server, settings, zap.get());
  auto endpoint = bind_ephemeral(server);

  socket_handle client(context, ZMQ_DEALER);
  loom::configure_client(client, security::curve(client_keys), server_keys.public_key);
  connect_once(client, endpoint);
  send(client, "ping");

  auto identity = receive(server, 5s);
  BOOST_REQUIRE(identity);
  std::string user_id;
  auto request = receive(server, 1s, &user_id);
  BOOST_REQUIRE(request);
  BOOST_TEST(*request == "ping");
  BOOST_TEST(user_id == "client");  // the name the handler found on the allow-list

  send(server, *identity, ZMQ_SNDMORE);
  send(server, "pong");
  auto reply = receive(client, 5s);
  BOOST_REQUIRE(reply);
  BOOST_TEST(*reply == "pong");
  BOOST_TEST(zap->accepted() == 1u);
  BOOST_TEST(zap->refused() == 0u);
  BOOST_TEST(contains(log.text(), "accepted 'client' from 127.0.0.1"), log.text());
}

BOOST_FIXTURE_TEST_CASE(a_client_not_on_the_allow_list_is_refused_and_counted, context_fixture) {
  auto settings = server_settings();
  auto zap = loom::start_zap_handler(context, settings, log.sink());
  socket_handle server(context, ZMQ_ROUTER);
  loom::configure_server(server, settings, zap.get());
  auto endpoint = bind_ephemeral(server);

  socket_handle stranger(context, ZMQ_DEALER);
  loom::configure_client(stranger, security::curve(stranger_keys), server_keys.public_key);
  connect_once(stranger, endpoint);
  send(stranger, "let me in");  // queued on the client side until a handshake that never succeeds

  BOOST_REQUIRE(wait_until([&] { return zap->refused() >= 1; }, 5s));
  BOOST_TEST(!receive(server, 500ms));
  BOOST_TEST(zap->refused() == 1u);
  BOOST_TEST(zap->accepted() == 0u);
  auto text = log.text();
  BOOST_TEST(contains(text, "refused a CURVE client from 127.0.0.1"), text);
  BOOST_TEST(contains(text, stranger_keys.public_key), text);
  BOOST_TEST(contains(text, "not on the allow-list"), text);
}

BOOST_FIXTURE_TEST_CASE(a_client_with_the_wrong_server_key_never_gets_through, context_fixture) {
  auto settings = server_settings();
  auto zap = loom::start_zap_handler(context, settings, log.sink());
  socket_handle server(context, ZMQ_ROUTER);
  loom::configure_server(server, settings, zap.get());
  auto endpoint = bind_ephemeral(server);

  socket_handle client(context, ZMQ_DEALER);  // allow-listed, but talking to the wrong server
  loom::configure_client(client, security::curve(client_keys), stranger_keys.public_key);
  BOOST_REQUIRE_EQUAL(zmq_connect(client, endpoint.c_str()), 0);
  send(client, "ping");

  BOOST_TEST(!receive(server, 1s));
  // The server could not open the client's HELLO, so the handshake never reached the handler.
  BOOST_TEST(zap->accepted() == 0u);
  BOOST_TEST(zap->refused() == 0u);
}

BOOST_FIXTURE_TEST_CASE(a_plain_client_is_refused_by_a_curve_server, context_fixture) {
  auto settings = server_settings();
  auto zap = loom::start_zap_handler(context, settings, log.sink());
  socket_handle server(context, ZMQ_ROUTER);
  loom::configure_server(server, settings, zap.get());
  auto endpoint = bind_ephemeral(server);

  socket_handle plain(context, ZMQ_DEALER);  // the NULL mechanism: no security at all
  BOOST_REQUIRE_EQUAL(zmq_connect(plain, endpoint.c_str()), 0);
  send(plain, "ping");

  BOOST_TEST(!receive(server, 1s));
  BOOST_TEST(zap->accepted() == 0u);
}

BOOST_FIXTURE_TEST_CASE(a_server_whose_context_has_no_handler_refuses_every_client, context_fixture) {
  // ZMQ_ZAP_ENFORCE_DOMAIN: without it a CURVE server whose context has no ZAP handler lets every
  // client in. Here the only handler runs in another context, which does not protect this one.
  auto settings = server_settings();
  void* other_context = zmq_ctx_new();
  auto elsewhere = loom::start_zap_handler(other_context, settings, log.sink());
  {
    socket_handle server(context, ZMQ_ROUTER);
    loom::configure_server(server, settings, elsewhere.get());
    auto endpoint = bind_ephemeral(server);
    socket_handle client(context, ZMQ_DEALER);
    loom::configure_client(client, security::curve(client_keys), server_keys.public_key);
    BOOST_REQUIRE_EQUAL(zmq_connect(client, endpoint.c_str()), 0);
    send(client, "ping");
    BOOST_TEST(!receive(server, 1s));
  }
  auto started = std::chrono::steady_clock::now();
  elsewhere.reset();
  BOOST_TEST((std::chrono::steady_clock::now() - started < 1s));
  zmq_ctx_term(other_context);
}

BOOST_FIXTURE_TEST_CASE(once_the_handler_stops_no_client_gets_through, context_fixture) {
  auto settings = server_settings();
  auto zap = loom::start_zap_handler(context, settings, log.sink());
  socket_handle server(context, ZMQ_ROUTER);
  loom::configure_server(server, settings, zap.get());
  auto endpoint = bind_ephemeral(server);
  auto started = std::chrono::steady_clock::now();
  zap->stop();
  BOOST_TEST((std::chrono::steady_clock::now() - started < 1s));

  socket_handle client(context, ZMQ_DEALER);
  loom::configure_client(client, security::curve(client_keys), server_keys.public_key);
  BOOST_REQUIRE_EQUAL(zmq_connect(client, endpoint.c_str()), 0);
  send(client, "ping");
  BOOST_TEST(!receive(server, 1s));
  BOOST_TEST(zap->accepted() == 0u);
}

BOOST_FIXTURE_TEST_CASE(a_malformed_zap_request_gets_500_and_the_handler_keeps_answering, context_fixture) {
  auto settings = server_settings();
  auto zap = loom::start_zap_handler(context, settings, log.sink());
  {
    socket_handle hostile(context, ZMQ_REQ);
    BOOST_REQUIRE_EQUAL(zmq_connect(hostile, "inproc://zeromq.zap.01"), 0);
    send(hostile, "1.0", ZMQ_SNDMORE);
    send(hostile, "7");  // no domain, address, identity, mechanism or credentials
    std::vector<std::string> reply;
    for (int more = 1; more;) {
      auto frame = receive(hostile, 5s);
      BOOST_REQUIRE(frame);
      reply.push_back(*frame);
      std::size_t size = sizeof more;
      zmq_getsockopt(hostile, ZMQ_RCVMORE, &more, &size);
    }
    BOOST_REQUIRE_EQUAL(reply.size(), 6u);
    BOOST_TEST(reply[0] == "1.0");
    BOOST_TEST(reply[1] == "7");
    BOOST_TEST(reply[2] == "500");
  }
  BOOST_TEST(zap->refused() == 1u);

  socket_handle server(context, ZMQ_ROUTER);
  loom::configure_server(server, settings, zap.get());
  auto endpoint = bind_ephemeral(server);
  socket_handle client(context, ZMQ_DEALER);
  loom::configure_client(client, security::curve(client_keys), server_keys.public_key);
  connect_once(client, endpoint);
  send(client, "ping");
  BOOST_TEST(receive(server, 5s).has_value());
  BOOST_TEST(zap->accepted() == 1u);
}

BOOST_FIXTURE_TEST_CASE(one_handler_per_context_and_servers_need_one, context_fixture) {
  auto settings = server_settings();
  auto zap = loom::start_zap_handler(context, settings, log.sink());
  auto second = error_of([&] { loom::start_zap_handler(context, settings); });
  BOOST_TEST(contains(second, "already has a ZAP handler"), second);

  socket_handle server(context, ZMQ_ROUTER);
  auto without = error_of([&] { loom::configure_server(server, settings, nullptr); });
  BOOST_TEST(contains(without, "no ZAP handler"), without);

  auto empty = error_of([&] { zap_handler(context, allow_list{}); });
  BOOST_TEST(contains(empty, "allow-list is empty"), empty);

  socket_handle client(context, ZMQ_DEALER);
  auto bad_key = error_of([&] {
    loom::configure_client(client, security::curve(client_keys), "not a key");
  });
  BOOST_TEST(contains(bad_key, "not a 40-character Z85 CURVE key"), bad_key);
}

BOOST_AUTO_TEST_CASE(the_handler_ends_when_its_context_terminates_first) {
  void* context = zmq_ctx_new();
  allow_list allowed;
  allowed.add(loom::generate_curve_key_pair().public_key, "someone");
  zap_handler zap(context, allowed, loom::loom_zap_domain, [](const std::string&) {});
  auto terminated = std::async(std::launch::async, [&] { return zmq_ctx_term(context); });
  BOOST_REQUIRE(terminated.wait_for(5s) == std::future_status::ready);
  BOOST_TEST(terminated.get() == 0);
  zap.stop();  // the thread is already gone; stopping again is harmless
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(key_files)

BOOST_AUTO_TEST_CASE(a_key_pair_round_trips_through_its_files) {
  temp_dir dir;
  auto keys = loom::generate_curve_key_pair();
  char derived[41] = {};  // independently: libzmq derives the public key from the secret
  BOOST_REQUIRE_EQUAL(zmq_curve_public(derived, keys.secret_key.c_str()), 0);
  BOOST_TEST(keys.public_key == derived);

  auto files = loom::write_key_pair(keys, dir.path / "nested", "gpu-1");
  BOOST_TEST(files.secret_file == dir.path / "nested" / "gpu-1.key");
  BOOST_TEST(files.public_file == dir.path / "nested" / "gpu-1.pub");
  struct stat info {};
  BOOST_REQUIRE_EQUAL(::stat(files.secret_file.c_str(), &info), 0);
  BOOST_TEST((info.st_mode & 0777) == 0600u);

  auto read = loom::read_key_pair(files.secret_file);
  BOOST_TEST(read.public_key == keys.public_key);
  BOOST_TEST(read.secret_key == keys.secret_key);
  BOOST_TEST(loom::read_public_key(files.public_file) == keys.public_key);
  auto shared = std::string(std::istreambuf_iterator<char>(std::ifstream(files.public_file).rdbuf()), {});
  BOOST_TEST(!contains(shared, keys.secret_key));
  BOOST_TEST(contains(shared, "# "));  // the header says what the file is
}

BOOST_AUTO_TEST_CASE(an_existing_pair_is_replaced_only_when_asked) {
  temp_dir dir;
  auto first = loom::generate_curve_key_pair();
  auto files = loom::write_key_pair(first, dir.path, "node");
  auto refused = error_of([&] { loom::write_key_pair(loom::generate_curve_key_pair(), dir.path, "node"); });
  BOOST_TEST(contains(refused, "already exists"), refused);
  BOOST_TEST(contains(refused, "--force"), refused);
  BOOST_TEST(loom::read_key_pair(files.secret_file).secret_key == first.secret_key);

  auto second = loom::generate_curve_key_pair();
  loom::write_key_pair(second, dir.path, "node", true);
  BOOST_TEST(loom::read_key_pair(files.secret_file).secret_key == second.secret_key);
  BOOST_TEST(loom::read_public_key(files.public_file) == second.public_key);

  auto bad_name = error_of([&] { loom::write_key_pair(second, dir.path, "../escape"); });
  BOOST_TEST(contains(bad_name, "key name '../escape'"), bad_name);
}

BOOST_AUTO_TEST_CASE(malformed_key_files_are_refused_with_file_and_line) {
  temp_dir dir;
  auto keys = loom::generate_curve_key_pair();
  auto other = loom::generate_curve_key_pair();
  const auto pub_line = "public = \"" + keys.public_key + "\"\n";
  const auto sec_line = "secret = \"" + keys.secret_key + "\"\n";
  auto bad_char = keys.public_key;
  bad_char[4] = '~';  // not in the Z85 alphabet

  struct example {
    std::string text;
    std::string expected;  // after "FILE"
  };
  const std::vector<example> key_examples = {
      {"# header\n\npublic = \"abc\"\n" + sec_line, ":3: the public key is 3 characters long"},
      {pub_line + "secret = \"" + keys.secret_key + "x\"\n", ":2: the secret key is 41 characters long"},
      {"public = \"" + bad_char + "\"\n" + sec_line, ":1:15: the public key has '~' at character 5"},
      {"colour = \"blue\"\n" + pub_line + sec_line, ":1: unknown key `colour`"},
      {pub_line + "secret = " + keys.secret_key + "\n", ":2: the secret key must be in double quotes"},
      {pub_line + sec_line + pub_line, ":3: a second `public` key (the first is on line 1)"},
      {pub_line + "just some words\n", ":2: expected `public = "},
      {pub_line, ": no `secret = \"...\"` line"},
      {"public = \"" + other.public_key + "\"\n" + sec_line,
       ":1: this public key does not belong to the secret key on line 2"},
      {"public = \"" + std::string(40, '#') + "\"\n" + sec_line, ":1: the public key is not valid Z85"},
  };
  int n = 0;
  for (const auto& e : key_examples) {
    auto path = dir.path / ("bad" + std::to_string(n++) + ".key");
    write_text(path, e.text);
    auto error = error_of([&] { loom::read_key_pair(path); });
    BOOST_TEST(contains(error, path.string() + e.expected), "expected '" << e.expected << "' in: " << error);
    BOOST_TEST(!contains(error, keys.secret_key), "the message shows the secret: " << error);
  }

  auto pub_with_secret = dir.path / "leaked.pub";
  write_text(pub_with_secret, pub_line + sec_line);
  auto error = error_of([&] { loom::read_public_key(pub_with_secret); });
  BOOST_TEST(contains(error, pub_with_secret.string() + ":2: this file holds a secret key"), error);

  auto empty_pub = dir.path / "empty.pub";
  write_text(empty_pub, "# nothing\n");
  error = error_of([&] { loom::read_public_key(empty_pub); });
  BOOST_TEST(contains(error, empty_pub.string() + ": no `public"), error);
}

BOOST_AUTO_TEST_CASE(a_secret_key_file_others_can_read_is_refused) {
  temp_dir dir;
  auto files = loom::write_key_pair(loom::generate_curve_key_pair(), dir.path, "node");
  for (auto mode : {0644, 0640, 0604}) {
    BOOST_REQUIRE_EQUAL(::chmod(files.secret_file.c_str(), mode), 0);
    auto error = error_of([&] { loom::read_key_pair(files.secret_file); });
    BOOST_TEST(contains(error, "chmod 600 " + files.secret_file.string()), error);
  }
  BOOST_REQUIRE_EQUAL(::chmod(files.secret_file.c_str(), 0400), 0);
  BOOST_TEST(error_of([&] { loom::read_key_pair(files.secret_file); }).empty());
}

BOOST_AUTO_TEST_CASE(an_allow_list_is_the_pub_files_of_a_folder) {
  temp_dir dir;
  auto a = loom::generate_curve_key_pair(), b = loom::generate_curve_key_pair();
  auto keys = dir.path / "keys", allow = dir.path / "allow";
  auto fa = loom::write_key_pair(a, keys, "alpha");
  auto fb = loom::write_key_pair(b, keys, "beta");
  fs::create_directories(allow);
  fs::copy_file(fa.public_file, allow / "alpha.pub");
  fs::copy_file(fb.public_file, allow / "beta.pub");
  write_text(allow / "README.txt", "not a key\n");

  auto list = allow_list::from_directory(allow);
  BOOST_TEST(list.size() == 2u);
  BOOST_TEST(list.contains(a.public_key));
  BOOST_TEST(list.contains(b.public_key));
  BOOST_TEST(!list.contains(loom::generate_curve_key_pair().public_key));
  BOOST_TEST(list.name_of(b.public_key) == "beta");
  BOOST_TEST(allow_list::from_files({fa.public_file}).size() == 1u);

  auto empty = dir.path / "empty";
  fs::create_directories(empty);
  auto error = error_of([&] { allow_list::from_directory(empty); });
  BOOST_TEST(contains(error, "holds no .pub file"), error);
  error = error_of([&] { allow_list::from_directory(dir.path / "missing"); });
  BOOST_TEST(contains(error, "does not exist"), error);
  fs::copy_file(fa.secret_file, allow / "alpha.key");
  error = error_of([&] { allow_list::from_directory(allow); });
  BOOST_TEST(contains(error, "a secret key file in an allow-list folder"), error);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(start_up)

BOOST_AUTO_TEST_CASE(the_check_refuses_to_start_without_keys_unless_insecure) {
  BOOST_TEST(loom::security_banner().empty());  // nothing in this process has asked for insecure
  auto error = error_of([] { loom::check_security(security{}); });
  BOOST_TEST(contains(error, "refusing to start without CURVE keys"), error);
  BOOST_TEST(contains(error, "loom keygen"), error);
  BOOST_TEST(contains(error, "--insecure"), error);
  BOOST_TEST(error_of([] { loom::check_security(security::curve(loom::generate_curve_key_pair())); }).empty());

  temp_dir dir;
  auto files = loom::write_key_pair(loom::generate_curve_key_pair(), dir.path, "node");
  auto from_files = security::from_files(files.secret_file);
  BOOST_TEST(from_files.has_keys());
  BOOST_TEST(!from_files.is_insecure());

  auto insecure = security::insecure();
  BOOST_TEST(error_of([&] { loom::check_security(insecure); }).empty());
  BOOST_TEST(std::string(loom::security_banner()) == "[INSECURE] ");
}

BOOST_AUTO_TEST_CASE(insecure_sockets_are_left_plain_and_talk_to_plain_peers) {
  void* context = zmq_ctx_new();
  {
    auto insecure = security::insecure();
    BOOST_TEST(!loom::start_zap_handler(context, insecure));
    socket_handle server(context, ZMQ_PULL);
    loom::configure_server(server, insecure, nullptr);
    int mechanism = -1;
    std::size_t size = sizeof mechanism;
    zmq_getsockopt(server, ZMQ_MECHANISM, &mechanism, &size);
    BOOST_TEST(mechanism == ZMQ_NULL);
    auto endpoint = bind_ephemeral(server);
    socket_handle plain(context, ZMQ_PUSH);
    BOOST_REQUIRE_EQUAL(zmq_connect(plain, endpoint.c_str()), 0);
    send(plain, "hello");
    auto got = receive(server, 5s);
    BOOST_REQUIRE(got);
    BOOST_TEST(*got == "hello");
  }
  zmq_ctx_term(context);
}

BOOST_AUTO_TEST_SUITE_END()
