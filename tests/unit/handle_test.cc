#include <doctest/doctest.h>

TEST_CASE("handle placeholder") {}
