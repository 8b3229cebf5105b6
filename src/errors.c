/*
 * errors.c — error names and messages, and the library version.
 *
 * The codes come from one X-macro table in gort.h (GORT_ERRNO_MAP), so the
 * enum, the names and the messages cannot drift apart (libuv's pattern).
 * Values that mirror errno are negated Linux errno numbers; unknown negative
 * values (for example an -errno returned by an I/O wrapper) fall back to the
 * C library's message.
 */
#include "internal.h"

#include <string.h>

GORT_API const char *gort_strerror(int err)
{
    switch (err) {
    case 0:
        return "success";
#define GORT__ERR_MSG(name, val, msg) \
    case val:                          \
        return msg;
        GORT_ERRNO_MAP(GORT__ERR_MSG)
#undef GORT__ERR_MSG
    default:
        break;
    }
    if (err < 0 && err > -4096)
        return strerror(-err); /* glibc: returns a static string for any value */
    return "unknown error";
}

GORT_API const char *gort_err_name(int err)
{
    switch (err) {
    case 0:
        return "GORT_OK";
#define GORT__ERR_NAME(name, val, msg) \
    case val:                           \
        return "GORT_" #name;
        GORT_ERRNO_MAP(GORT__ERR_NAME)
#undef GORT__ERR_NAME
    default:
        return "GORT_E?";
    }
}

GORT_API unsigned gort_version(void)
{
    return GORT_VERSION_HEX;
}

#define GORT__STR2(x) #x
#define GORT__STR(x) GORT__STR2(x)
GORT_API const char *gort_version_string(void)
{
    return GORT__STR(GORT_VERSION_MAJOR) "." GORT__STR(GORT_VERSION_MINOR) "." GORT__STR(
        GORT_VERSION_PATCH);
}
