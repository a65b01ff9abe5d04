#include <doctest/doctest.h>

TEST_CASE("json placeholder") {}
