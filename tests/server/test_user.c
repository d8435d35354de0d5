/* test_user.c — role names round-trip, nothing else parses, and the two built-in principals. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "user.h"

#include <string.h>

static void roles_round_trip(void **state)
{
    (void)state;
    const user_role roles[] = {ROLE_STUDENT, ROLE_STAFF, ROLE_ADMIN};
    for (size_t i = 0; i < 3; i++) {
        user_role r = ROLE_NONE;
        assert_int_equal(user_role_parse(user_role_name(roles[i]), &r), MLP_OK);
        assert_int_equal(r, roles[i]);
    }
    assert_string_equal(user_role_name(ROLE_STAFF), "staff");
    assert_string_equal(user_role_name(ROLE_NONE), "none");
}

static void others_refused(void **state)
{
    (void)state;
    const char *bad[] = {"none", "Admin", "", "admins", "root"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        user_role r = ROLE_STUDENT;
        assert_int_equal(user_role_parse(bad[i], &r), MLP_EINVAL);
        assert_int_equal(r, ROLE_STUDENT);
    }
    user_role r;
    assert_int_equal(user_role_parse(NULL, &r), MLP_EINVAL);
}

static void builtins(void **state)
{
    (void)state;
    principal a = user_bootstrap(), n = user_anonymous();
    assert_int_equal(a.id, USER_BOOTSTRAP_ID);
    assert_int_equal(a.role, ROLE_ADMIN);
    assert_string_equal(a.name, "admin");
    assert_int_equal(n.id, 0);
    assert_int_equal(n.role, ROLE_NONE);
    assert_string_equal(n.name, "");
    assert_true(ROLE_ADMIN > ROLE_STAFF && ROLE_STAFF > ROLE_STUDENT && ROLE_STUDENT > ROLE_NONE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(roles_round_trip),
        cmocka_unit_test(others_refused),
        cmocka_unit_test(builtins),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
