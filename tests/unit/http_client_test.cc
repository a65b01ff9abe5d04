#include <doctest/doctest.h>

TEST_CASE("http_client placeholder") {}
