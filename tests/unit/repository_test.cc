#include <doctest/doctest.h>

TEST_CASE("repository placeholder") {}
