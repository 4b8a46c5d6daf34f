// The CAF scheduler settings of a run (actors/scheduler_config.hpp): idle workers leave their
// 50 µs polling for the condition variable after 20 tries instead of CAF's 500.
#include <boost/test/unit_test.hpp>

#include <caf/actor_system_config.hpp>
#include <caf/defaults.hpp>
#include <caf/settings.hpp>

#include "actors/scheduler_config.hpp"

BOOST_AUTO_TEST_CASE(idle_workers_stop_polling_after_a_millisecond) {
  // How CAF's work-stealing policy reads the setting, with its default as the fallback.
  const auto key = "work-stealing.moderate-poll-attempts";
  const auto fallback = caf::defaults::work_stealing::moderate_poll_attempts;
  caf::actor_system_config plain;
  caf::actor_system_config tuned;
  loom::tune_scheduler(tuned);
  BOOST_TEST(caf::get_or(plain, key, fallback) == 500u);
  BOOST_TEST(caf::get_or(tuned, key, fallback) == 20u);
}
