// same_thread_delivery (actors/same_thread_delivery.hpp): a message that wakes an idle actor
// makes it run on the delivering thread at run_woken(); what that actor sends goes to the
// scheduler; an actor with more than messages_per_run waiting, or one left un-run, is handed to
// the scheduler. The test's own thread delivers: it is not one of the scheduler's workers.
#include <boost/test/unit_test.hpp>

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include <caf/all.hpp>

#include "actors/same_thread_delivery.hpp"

using namespace loom;
using namespace std::chrono_literals;

namespace {

// Which thread handled each message, in order.
struct handled_on {
  std::mutex mutex;
  std::condition_variable changed;
  std::vector<std::thread::id> threads;

  void note() {
    std::lock_guard lock(mutex);
    threads.push_back(std::this_thread::get_id());
    changed.notify_all();
  }
  // The threads of the first `n` messages, once they were handled (empty after 10 s).
  std::vector<std::thread::id> wait_for(std::size_t n) {
    std::unique_lock lock(mutex);
    if (!changed.wait_for(lock, 10s, [&] { return threads.size() >= n; })) return {};
    return threads;
  }
  std::size_t count() {
    std::lock_guard lock(mutex);
    return threads.size();
  }
};

// Notes each int it gets, and passes it on to `next` when there is one.
caf::behavior noting(caf::event_based_actor* self, std::shared_ptr<handled_on> seen,
                     caf::actor next) {
  return {[=](int n) {
    seen->note();
    if (next) self->send(next, n);
  }};
}

// Spawned actors start on a worker: deliveries are meant for an actor that waits for mail.
void wait_until_idle(const caf::actor& a) {
  auto* actor = dynamic_cast<caf::scheduled_actor*>(caf::actor_cast<caf::abstract_actor*>(a));
  BOOST_REQUIRE(actor);
  for (int i = 0; i < 10000 && !actor->mailbox().blocked(); ++i) std::this_thread::sleep_for(1ms);
  BOOST_REQUIRE(actor->mailbox().blocked());
}

struct actor_system_fixture {
  caf::actor_system_config config;
  caf::actor_system system{config};
  std::shared_ptr<handled_on> seen = std::make_shared<handled_on>();
  const std::thread::id here = std::this_thread::get_id();
};

}  // namespace

BOOST_FIXTURE_TEST_CASE(an_idle_receiver_runs_on_the_delivering_thread, actor_system_fixture) {
  auto receiver = system.spawn(noting, seen, caf::actor{});
  wait_until_idle(receiver);
  {
    same_thread_delivery delivery(system);
    delivery.deliver(receiver, nullptr, 1);
    std::this_thread::sleep_for(20ms);
    BOOST_TEST(seen->count() == 0u);  // woken, but nobody else may run it
    delivery.run_woken();
    BOOST_TEST(seen->count() == 1u);  // handled before run_woken() returned
  }
  const auto threads = seen->wait_for(1);
  BOOST_REQUIRE(threads.size() == 1u);
  BOOST_TEST((threads[0] == here));
}

BOOST_FIXTURE_TEST_CASE(what_the_receiver_sends_goes_to_the_scheduler, actor_system_fixture) {
  auto third = system.spawn(noting, seen, caf::actor{});
  auto receiver = system.spawn(noting, seen, third);
  wait_until_idle(third);
  wait_until_idle(receiver);
  same_thread_delivery delivery(system);
  delivery.deliver(receiver, nullptr, 7);
  delivery.run_woken();
  const auto threads = seen->wait_for(2);
  BOOST_REQUIRE(threads.size() == 2u);
  BOOST_TEST((threads[0] == here));  // the receiver, here
  BOOST_TEST((threads[1] != here));  // what it sent, on a worker
}

BOOST_FIXTURE_TEST_CASE(a_receiver_with_more_waiting_than_one_run_goes_to_the_scheduler,
                        actor_system_fixture) {
  auto receiver = system.spawn(noting, seen, caf::actor{});
  wait_until_idle(receiver);
  const std::size_t sent = same_thread_delivery::messages_per_run + 36;
  same_thread_delivery delivery(system);
  for (std::size_t i = 0; i < sent; ++i) delivery.deliver(receiver, nullptr, static_cast<int>(i));
  delivery.run_woken();
  const auto threads = seen->wait_for(sent);
  BOOST_REQUIRE(threads.size() == sent);
  std::size_t ran_here = 0;
  for (const auto& t : threads) ran_here += t == here;
  BOOST_TEST(ran_here == same_thread_delivery::messages_per_run);  // one run; the rest elsewhere
}

BOOST_FIXTURE_TEST_CASE(a_receiver_left_woken_is_handed_to_the_scheduler, actor_system_fixture) {
  auto receiver = system.spawn(noting, seen, caf::actor{});
  wait_until_idle(receiver);
  {
    same_thread_delivery delivery(system);
    delivery.deliver(receiver, nullptr, 1);
  }  // without run_woken()
  const auto threads = seen->wait_for(1);
  BOOST_REQUIRE(threads.size() == 1u);
  BOOST_TEST((threads[0] != here));
}

BOOST_FIXTURE_TEST_CASE(a_busy_receiver_gets_the_message_where_it_runs, actor_system_fixture) {
  // A receiver that is not idle (here: runnable or running on a worker, held there by its first
  // message) is not woken by the delivery, so nothing runs on the delivering thread.
  std::mutex gate;
  std::unique_lock closed(gate);
  auto receiver = system.spawn([&, seen = seen](caf::event_based_actor*) -> caf::behavior {
    return {[&, seen](int) {
      std::lock_guard wait_for_the_test(gate);
      seen->note();
    }};
  });
  caf::anon_send(receiver, 0);  // from outside: a worker runs it, and it waits at the gate
  same_thread_delivery delivery(system);
  delivery.deliver(receiver, nullptr, 1);
  delivery.run_woken();
  BOOST_TEST(seen->count() == 0u);  // nothing ran here
  closed.unlock();
  const auto threads = seen->wait_for(2);
  BOOST_REQUIRE(threads.size() == 2u);
  BOOST_TEST((threads[0] != here));
  BOOST_TEST((threads[1] != here));
}
