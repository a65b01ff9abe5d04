#include <doctest/doctest.h>

TEST_CASE("dns placeholder") {}
