#include <doctest/doctest.h>

TEST_CASE("car placeholder") {}
