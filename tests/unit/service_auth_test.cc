#include <doctest/doctest.h>

TEST_CASE("service_auth placeholder") {}
