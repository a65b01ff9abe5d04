#include <doctest/doctest.h>

TEST_CASE("cid placeholder") {}
