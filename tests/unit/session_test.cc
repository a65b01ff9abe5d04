#include <doctest/doctest.h>

TEST_CASE("session placeholder") {}
