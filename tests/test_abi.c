/*
 * test_abi.c — the public ABI as a program linked against libgort.so sees it.
 *
 * Unlike the other tests (linked against libgort.a for white-box access),
 * this one links the SHARED library: it checks that the header and the
 * library agree (version macros vs gort_version()), that the error table is
 * exported intact (gort_strerror / gort_err_name for every GORT_E* code),
 * that the symbols carry the GORT_0.1 version node, and that the layout of
 * the public caller-allocated structs is the one 0.1 froze.
 */
#include "harness.h"

#include <gort.h>

#include <dlfcn.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

TEST(version_matches_header)
{
    CHECK_EQ(gort_version(), GORT_VERSION_HEX);
    CHECK_EQ(GORT_VERSION_HEX,
             (GORT_VERSION_MAJOR << 16) | (GORT_VERSION_MINOR << 8) | GORT_VERSION_PATCH);
    char want[64];
    snprintf(want, sizeof want, "%d.%d.%d", GORT_VERSION_MAJOR, GORT_VERSION_MINOR,
             GORT_VERSION_PATCH);
    const char *got = gort_version_string();
    CHECK(got != NULL);
    CHECK_MSG(strcmp(got, want) == 0, "gort_version_string() = \"%s\", header says \"%s\"", got,
              want);
    /* Stable pointer to static storage. */
    CHECK(gort_version_string() == got);
}

TEST(strerror_and_err_name_cover_the_table)
{
#define CHECK_ERR(name, val, msg)                                                              \
    do {                                                                                       \
        CHECK_EQ(GORT_##name, (val));                                                          \
        const char *m = gort_strerror(GORT_##name);                                            \
        CHECK_MSG(m && strcmp(m, msg) == 0, "gort_strerror(GORT_%s) = \"%s\", want \"%s\"",     \
                  #name, m ? m : "(null)", msg);                                               \
        const char *n = gort_err_name(GORT_##name);                                            \
        CHECK_MSG(n && strcmp(n, "GORT_" #name) == 0, "gort_err_name(%d) = \"%s\"", (val),      \
                  n ? n : "(null)");                                                           \
    } while (0);
    GORT_ERRNO_MAP(CHECK_ERR)
#undef CHECK_ERR
}

TEST(error_codes_are_distinct_and_negative)
{
    static const int codes[] = {
#define CODE(name, val, msg) GORT_##name,
        GORT_ERRNO_MAP(CODE)
#undef CODE
    };
    size_t n = sizeof codes / sizeof codes[0];
    for (size_t i = 0; i < n; i++) {
        CHECK_MSG(codes[i] < 0, "code %d is not negative", codes[i]);
        for (size_t j = i + 1; j < n; j++)
            CHECK_MSG(codes[i] != codes[j], "duplicate code %d", codes[i]);
    }
    CHECK_EQ(GORT_OK, 0);
}

TEST(unknown_codes)
{
    /* Not in the table: names fall back to "GORT_E?", messages to strerror. */
    CHECK(strcmp(gort_err_name(-99999), "GORT_E?") == 0);
    CHECK(strcmp(gort_err_name(12345), "GORT_E?") == 0);
    CHECK(strcmp(gort_err_name(-2 /* ENOENT: not a gort code */), "GORT_E?") == 0);
    char want[256];
    snprintf(want, sizeof want, "%s", strerror(2));
    const char *m = gort_strerror(-2);
    CHECK_MSG(m && strcmp(m, want) == 0, "gort_strerror(-ENOENT) = \"%s\", want \"%s\"",
              m ? m : "(null)", want);
    CHECK(gort_strerror(-99999) != NULL);
    CHECK(gort_strerror(0) != NULL);
}

TEST(linked_against_the_shared_library)
{
#if GORT_TEST_ABI_STATIC
    SKIP("executables are linked statically in this build");
#else
    Dl_info info;
    CHECK(dladdr((void *)gort_version, &info) != 0);
    CHECK(info.dli_fname != NULL);
    CHECK_MSG(strstr(info.dli_fname, "libgort.so") != NULL, "gort_version comes from %s",
              info.dli_fname);
    /* The version script applied: symbols carry the GORT_0.1 node. */
    CHECK(dlvsym(RTLD_DEFAULT, "gort_version", "GORT_0.1") != NULL);
    CHECK(dlvsym(RTLD_DEFAULT, "gort_strerror", "GORT_0.1") != NULL);
    /* Internal names are not exported. */
    CHECK(dlsym(RTLD_DEFAULT, "gort__fatal") == NULL);
    CHECK(dlsym(RTLD_DEFAULT, "gort__lock_acquire") == NULL);
#endif
}

TEST(struct_layout_is_frozen)
{
    if (sizeof(void *) != 8)
        SKIP("layout table is for LP64");
    /* Caller-allocated sync structs: opaque, fixed size. */
    CHECK_EQ(sizeof(gort_mutex), 64);
    CHECK_EQ(sizeof(gort_rwmutex), 128);
    CHECK_EQ(sizeof(gort_wg), 64);
    CHECK_EQ(sizeof(gort_once), 64);
    CHECK_EQ(sizeof(gort_cond), 64);
    CHECK_EQ(sizeof(gort_sem), 64);
    /* Versioned option structs: struct_size first, reserved tail. */
    CHECK_EQ(offsetof(gort_config, struct_size), 0);
    CHECK_EQ(offsetof(gort_config, procs), 8);
    CHECK_EQ(offsetof(gort_config, stack_size), 16);
    CHECK_EQ(offsetof(gort_config, max_threads), 24);
    CHECK_EQ(offsetof(gort_config, flags), 28);
    CHECK_EQ(offsetof(gort_config, reserved), 32);
    CHECK_EQ(sizeof(gort_config), 96);
    CHECK_EQ(offsetof(gort_go_options, struct_size), 0);
    CHECK_EQ(offsetof(gort_go_options, stack_size), 8);
    CHECK_EQ(offsetof(gort_go_options, name), 16);
    CHECK_EQ(offsetof(gort_go_options, pinned), 24);
    CHECK_EQ(offsetof(gort_go_options, reserved), 32);
    CHECK_EQ(sizeof(gort_go_options), 80);
    /* Select cases are caller arrays. */
    CHECK_EQ(offsetof(gort_case, chan), 0);
    CHECK_EQ(offsetof(gort_case, dir), 8);
    CHECK_EQ(offsetof(gort_case, elem), 16);
    CHECK_EQ(offsetof(gort_case, result), 24);
    CHECK_EQ(sizeof(gort_case), 32);
    CHECK_EQ(GORT_SEND, 1);
    CHECK_EQ(GORT_RECV, 2);
    CHECK_EQ(GORT_FOREVER, -1);
    CHECK_EQ(GORT_NOWAIT, 0);
}

HARNESS_MAIN()
