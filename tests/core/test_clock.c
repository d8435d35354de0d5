/* test_clock.c — core/clock: RFC 3339 text of known instants, and the clocks' directions. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"

static void rfc3339_known_instants(void **state)
{
    (void)state;
    char out[CLOCK_RFC3339_LEN];
    struct timespec ts = {0, 0};
    clock_rfc3339_at(&ts, 0, out);
    assert_string_equal(out, "1970-01-01T00:00:00Z");
    ts.tv_sec = 1796582400; /* 2026-12-06T18:40:00Z */
    ts.tv_nsec = 123999999; /* truncated to .123, never rounded up to .124 */
    clock_rfc3339_at(&ts, 0, out);
    assert_string_equal(out, "2026-12-06T18:40:00Z");
    clock_rfc3339_at(&ts, 1, out);
    assert_string_equal(out, "2026-12-06T18:40:00.123Z");
    ts.tv_sec = 951782400 + 86399; /* 2000-02-29T23:59:59Z, a leap day */
    ts.tv_nsec = 999999999;
    clock_rfc3339_at(&ts, 1, out);
    assert_string_equal(out, "2000-02-29T23:59:59.999Z");
}

static void now_is_the_wall_clock(void **state)
{
    (void)state;
    char out[CLOCK_RFC3339_LEN];
    time_t before = time(NULL);
    clock_rfc3339(1, out);
    time_t after = time(NULL);
    assert_int_equal(strlen(out), 24);
    struct tm tm = {0};
    char *end = strptime(out, "%Y-%m-%dT%H:%M:%S", &tm);
    assert_non_null(end);
    assert_string_equal(end + 4, "Z");
    time_t t = timegm(&tm);
    assert_true(t >= before && t <= after);
}

static void monotonic_goes_forward(void **state)
{
    (void)state;
    uint64_t a = clock_now_us();
    double as = clock_now_s();
    struct timespec nap = {0, 20 * 1000 * 1000};
    nanosleep(&nap, NULL);
    uint64_t b = clock_now_us();
    double bs = clock_now_s();
    assert_true(b - a >= 19000 && b - a < 5000000);
    assert_true(bs - as >= 0.019 && bs - as < 5.0);
    /* the two views are the same clock */
    assert_true(bs * 1e6 - (double)b < 1e5 && (double)b - bs * 1e6 < 1e5);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(rfc3339_known_instants),
        cmocka_unit_test(now_is_the_wall_clock),
        cmocka_unit_test(monotonic_goes_forward),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
