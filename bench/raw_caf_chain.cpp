// Peer for the hop-throughput benchmark: the same source -> 3 relays -> sink shape written
// directly on CAF 0.17 with unbounded mailboxes and no flow control.
#include <caf/all.hpp>
#include <chrono>
#include <cstdio>
#include <memory>
#include <vector>

namespace {
struct raw_packet {
  std::shared_ptr<std::vector<unsigned char>> payload;
  std::uint64_t sequence;
};
}  // namespace

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(raw_packet)

int main(int argc, char** argv) {
  std::uint64_t count = argc > 1 ? std::stoull(argv[1]) : 1000000;
  caf::actor_system_config cfg;
  caf::actor_system sys{cfg};
  caf::scoped_actor self{sys};
  auto sink = sys.spawn([count, waiter = caf::actor{self}](caf::event_based_actor* s) {
    auto received = std::make_shared<std::uint64_t>(0);
    return caf::behavior{[=](const raw_packet&) {
      if (++*received == count) s->send(waiter, *received);
    }};
  });
  caf::actor next = sink;
  for (int i = 0; i < 3; ++i)
    next = sys.spawn([next](caf::event_based_actor* s) {
      return caf::behavior{[=](raw_packet& p) { s->send(next, std::move(p)); }};
    });
  auto payload = std::make_shared<std::vector<unsigned char>>(16);
  auto start = std::chrono::steady_clock::now();
  for (std::uint64_t i = 0; i < count; ++i) self->send(next, raw_packet{payload, i});
  self->receive([](std::uint64_t) {});
  double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("%.0f\n", count / s);
}
