#include "raw_caf_chain.hpp"

#include <caf/all.hpp>
#include <chrono>
#include <memory>
#include <vector>

namespace {
struct raw_packet {
  std::shared_ptr<std::vector<unsigned char>> payload;
  std::uint64_t sequence;
};
}  // namespace

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(raw_packet)

namespace loom::bench {

double raw_caf_chain(std::uint64_t packets, std::size_t payload_bytes) {
  caf::actor_system_config cfg;
  caf::actor_system sys{cfg};
  caf::scoped_actor self{sys};
  auto sink = sys.spawn([packets, waiter = caf::actor{self}](caf::event_based_actor* s) {
    auto received = std::make_shared<std::uint64_t>(0);
    return caf::behavior{[=](const raw_packet&) {
      if (++*received == packets) s->send(waiter, *received);
    }};
  });
  caf::actor next = sink;
  for (int i = 0; i < 3; ++i)
    next = sys.spawn([next](caf::event_based_actor* s) {
      return caf::behavior{[=](raw_packet& p) { s->send(next, std::move(p)); }};
    });
  auto payload = std::make_shared<std::vector<unsigned char>>(payload_bytes);
  auto start = std::chrono::steady_clock::now();
  auto source = sys.spawn([next, packets, payload](caf::event_based_actor* s) {
    for (std::uint64_t i = 0; i < packets; ++i) s->send(next, raw_packet{payload, i});
  });
  self->receive([](std::uint64_t) {});
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return static_cast<double>(packets) / seconds;
}

}  // namespace loom::bench
