// Error policies: skip, fail, restart after errors in a row, give up on a crash loop.
#include <boost/test/unit_test.hpp>

#include "actors/failure_policy.hpp"

using namespace loom;
using action = failure_policy::action;

BOOST_AUTO_TEST_CASE(on_error_fail_fails_at_once) {
  failure_policy p(error_policy::fail, {});
  BOOST_TEST((p.on_failure() == action::fail));
}

BOOST_AUTO_TEST_CASE(isolated_errors_are_skipped) {
  failure_policy p(error_policy::skip, {3, 1, 60});
  for (int i = 0; i < 10; ++i) {
    BOOST_TEST((p.on_failure() == action::carry_on));
    BOOST_TEST((p.on_failure() == action::carry_on));
    p.on_success();
  }
  BOOST_TEST(p.restarts() == 0);
}

BOOST_AUTO_TEST_CASE(errors_in_a_row_restart_then_a_crash_loop_fails) {
  failure_policy p(error_policy::skip, {2, 2, 60});
  auto t = failure_policy::clock::now();
  BOOST_TEST((p.on_failure(t) == action::carry_on));
  BOOST_TEST((p.on_failure(t) == action::restart));
  BOOST_TEST((p.on_failure(t) == action::carry_on));
  BOOST_TEST((p.on_failure(t) == action::restart));
  BOOST_TEST((p.on_failure(t) == action::carry_on));
  BOOST_TEST((p.on_failure(t) == action::fail));
  BOOST_TEST(p.restarts() == 2);
}

BOOST_AUTO_TEST_CASE(restarts_outside_the_window_are_forgotten) {
  failure_policy p(error_policy::skip, {1, 1, 10});
  auto t = failure_policy::clock::now();
  BOOST_TEST((p.on_failure(t) == action::restart));
  BOOST_TEST((p.on_failure(t + std::chrono::seconds(11)) == action::restart));
  BOOST_TEST((p.on_failure(t + std::chrono::seconds(12)) == action::fail));
}
