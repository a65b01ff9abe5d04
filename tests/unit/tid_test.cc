#include <doctest/doctest.h>

TEST_CASE("tid placeholder") {}
