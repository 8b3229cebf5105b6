/*
 * test_ffi.c — native calls (src/ffi.c) through the public API.
 *
 *   types_*        every GORT_T_* both directions (the callee records what it
 *                  received, the caller checks what came back), bitwise, with
 *                  the extremes (INT64_MIN, UINT64_MAX, NaN, -0.0, ...)
 *   spellings      C spellings -> GORT_T_* (the type table)
 *   many_args      register + stack arguments, mixed integer/float classes
 *   structs/strings  pointers to small structs written by the callee, strings
 *   variadic       snprintf through derived signatures; promotion rules
 *   parse_errors   bad declarations: GORT_EINVAL, offset and message
 *   bad_input      NULL function/signature/arguments, after shutdown
 *   async_*        T_SCALE(100000) async calls all checked; results of
 *                  every width; a kernel-blocking call with one P does not
 *                  stall other goroutines; gort_sig_free while jobs run;
 *                  a CPU-bound batch never runs more calls than Ps at once;
 *                  long calls run with a long scheduler slice, restored after
 * A GORT_WITH_FFI=OFF build (e.g. the aarch64 cross stage) compiles only
 * `without_ffi`, which checks that every entry point says GORT_ENOSYS.
 */
#include "harness.h"
#include "test_util.h"

#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdbool.h>
#include <sys/syscall.h>
#include <unistd.h>

#if GORT_TEST_WITH_FFI

typedef void (*fnptr)(void);
#define FN(f) ((fnptr)(f))

static gort_sig *sig_or_die(const char *decl)
{
    gort_sig *s = NULL;
    gort_sig_diag d = {0};
    int rc = gort_sig_parse(&s, decl, &d);
    CHECK_MSG(rc == 0 && s, "'%s': %d at %zu: %s", decl, rc, d.pos, d.msg);
    return s;
}

/* ---- every type, both directions ----------------------------------------- */

/* X(C type, tag, declaration spelling, GORT_T_*) */
#define FFI_TYPES(X)                                      \
    X(bool, bool, "bool", GORT_T_BOOL)                    \
    X(int8_t, i8, "int8_t", GORT_T_INT8)                  \
    X(uint8_t, u8, "uint8_t", GORT_T_UINT8)               \
    X(int16_t, i16, "int16_t", GORT_T_INT16)              \
    X(uint16_t, u16, "uint16_t", GORT_T_UINT16)           \
    X(int32_t, i32, "int32_t", GORT_T_INT32)              \
    X(uint32_t, u32, "uint32_t", GORT_T_UINT32)           \
    X(int64_t, i64, "int64_t", GORT_T_INT64)              \
    X(uint64_t, u64, "uint64_t", GORT_T_UINT64)           \
    X(float, f32, "float", GORT_T_FLOAT)                  \
    X(double, f64, "double", GORT_T_DOUBLE)               \
    X(void *, ptr, "void *", GORT_T_POINTER)              \
    X(char *, str, "char *", GORT_T_STRING)

/* An identity function per type that records the value it received (the
 * "in" direction), and a checker that calls it through a signature and
 * compares both directions bitwise (so NaN payloads and -0.0 count). */
#define DEFINE_ID(T, tag, spelling, gtype)                                                  \
    static T last_##tag;                                                                    \
    static T id_##tag(T v)                                                                  \
    {                                                                                       \
        last_##tag = v;                                                                     \
        return v;                                                                           \
    }                                                                                       \
    static void check_##tag(const gort_sig *s, T v)                                         \
    {                                                                                       \
        T out;                                                                              \
        memset(&out, 0xa5, sizeof out);                                                     \
        memset(&last_##tag, 0x5a, sizeof last_##tag);                                       \
        CHECK_EQ(gort_call(s, FN(id_##tag), (void *[]){&v}, &out), 0);                      \
        CHECK_MSG(memcmp(&last_##tag, &v, sizeof v) == 0, "%s: callee got another value",  \
                  spelling);                                                                \
        CHECK_MSG(memcmp(&out, &v, sizeof v) == 0, "%s: another value came back", spelling); \
    }
FFI_TYPES(DEFINE_ID)

/* Signature "T id(T)" with its type checked. */
static gort_sig *id_sig(const char *spelling, int gtype)
{
    char decl[64];
    snprintf(decl, sizeof decl, "%s id(%s v)", spelling, spelling);
    gort_sig *s = sig_or_die(decl);
    CHECK_EQ(gort_sig_ret(s), gtype);
    CHECK_EQ(gort_sig_arg(s, 0), gtype);
    CHECK_EQ(gort_sig_nargs(s), 1);
    CHECK(strcmp(gort_sig_name(s), "id") == 0);
    return s;
}

TEST(types_integers_extremes)
{
    gort_sig *s;
#define INT_CASE(T, tag, gtype, ...)                           \
    s = id_sig(#T, gtype);                                     \
    for (size_t i = 0; i < sizeof((T[]){__VA_ARGS__}) / sizeof(T); i++) \
        check_##tag(s, ((T[]){__VA_ARGS__})[i]);               \
    gort_sig_free(s);
    INT_CASE(int8_t, i8, GORT_T_INT8, INT8_MIN, INT8_MAX, 0, -1, 1)
    INT_CASE(uint8_t, u8, GORT_T_UINT8, 0, UINT8_MAX, 0x80, 1)
    INT_CASE(int16_t, i16, GORT_T_INT16, INT16_MIN, INT16_MAX, 0, -1)
    INT_CASE(uint16_t, u16, GORT_T_UINT16, 0, UINT16_MAX, 0x8000)
    INT_CASE(int32_t, i32, GORT_T_INT32, INT32_MIN, INT32_MAX, 0, -1)
    INT_CASE(uint32_t, u32, GORT_T_UINT32, 0, UINT32_MAX, 0x80000000u)
    INT_CASE(int64_t, i64, GORT_T_INT64, INT64_MIN, INT64_MAX, 0, -1)
    INT_CASE(uint64_t, u64, GORT_T_UINT64, 0, UINT64_MAX, (uint64_t)1 << 63)
#undef INT_CASE
    s = id_sig("bool", GORT_T_BOOL);
    check_bool(s, true);
    check_bool(s, false);
    gort_sig_free(s);
}

TEST(types_floats_extremes)
{
    gort_sig *s = id_sig("double", GORT_T_DOUBLE);
    const double ds[] = {NAN, -NAN, -0.0, 0.0, INFINITY, -INFINITY, DBL_MAX, -DBL_MAX,
                         DBL_MIN, DBL_TRUE_MIN, 1.0 / 3.0};
    for (size_t i = 0; i < sizeof ds / sizeof ds[0]; i++)
        check_f64(s, ds[i]);
    double out = 1;
    CHECK_EQ(gort_call(s, FN(id_f64), (void *[]){&(double){-0.0}}, &out), 0);
    CHECK(out == 0 && signbit(out));
    CHECK_EQ(gort_call(s, FN(id_f64), (void *[]){&(double){NAN}}, &out), 0);
    CHECK(isnan(out));
    gort_sig_free(s);

    s = id_sig("float", GORT_T_FLOAT);
    const float fs[] = {NAN, -0.0f, INFINITY, -INFINITY, FLT_MAX, FLT_MIN, FLT_TRUE_MIN, 0.1f};
    for (size_t i = 0; i < sizeof fs / sizeof fs[0]; i++)
        check_f32(s, fs[i]);
    gort_sig_free(s);
}

TEST(types_pointers_and_strings)
{
    gort_sig *s = id_sig("void *", GORT_T_POINTER);
    check_ptr(s, NULL);
    check_ptr(s, &s);
    check_ptr(s, (void *)UINTPTR_MAX);
    gort_sig_free(s);
    s = id_sig("char *", GORT_T_STRING);
    check_str(s, "hello");
    check_str(s, NULL);
    gort_sig_free(s);
}

/* ---- the type table ---------------------------------------------------------- */

TEST(spellings)
{
    static const struct {
        const char *spelling;
        int         type;
    } t[] = {
        {"_Bool", GORT_T_BOOL},
        {"signed char", GORT_T_INT8},
        {"unsigned char", GORT_T_UINT8},
        {"char", CHAR_MIN < 0 ? GORT_T_INT8 : GORT_T_UINT8},
        {"short", GORT_T_INT16},
        {"short int", GORT_T_INT16},
        {"signed short", GORT_T_INT16},
        {"unsigned short int", GORT_T_UINT16},
        {"int", GORT_T_INT32},
        {"signed", GORT_T_INT32},
        {"unsigned", GORT_T_UINT32},
        {"unsigned int", GORT_T_UINT32},
        {"long", GORT_T_INT64},
        {"long int", GORT_T_INT64},
        {"unsigned long", GORT_T_UINT64},
        {"long long", GORT_T_INT64},
        {"long long int", GORT_T_INT64},
        {"unsigned long long", GORT_T_UINT64},
        {"long unsigned long", GORT_T_UINT64},
        {"size_t", GORT_T_UINT64},
        {"ssize_t", GORT_T_INT64},
        {"intptr_t", GORT_T_INT64},
        {"uintptr_t", GORT_T_UINT64},
        {"ptrdiff_t", GORT_T_INT64},
        {"off_t", GORT_T_INT64},
        {"enum color", GORT_T_INT32},
        {"const volatile int", GORT_T_INT32},
        {"const char *", GORT_T_STRING},
        {"char const *", GORT_T_STRING},
        {"char * const", GORT_T_STRING},
        {"unsigned char *", GORT_T_POINTER},
        {"signed char *", GORT_T_POINTER},
        {"char **", GORT_T_POINTER},
        {"const void *", GORT_T_POINTER},
        {"struct point *", GORT_T_POINTER},
        {"union u * restrict", GORT_T_POINTER},
        {"double *", GORT_T_POINTER},
        {"int * const * volatile", GORT_T_POINTER},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        char decl[96];
        snprintf(decl, sizeof decl, "%s f(%s x)", t[i].spelling, t[i].spelling);
        gort_sig *s = sig_or_die(decl);
        CHECK_MSG(gort_sig_ret(s) == t[i].type && gort_sig_arg(s, 0) == t[i].type,
                  "'%s': ret %s arg %s", t[i].spelling, gort_type_name(gort_sig_ret(s)),
                  gort_type_name(gort_sig_arg(s, 0)));
        gort_sig_free(s);
    }
    /* Other parameter forms: unnamed, arrays, function pointers, (void), (). */
    gort_sig *s = sig_or_die("  void qsort(void *base, size_t n, size_t size, "
                             "int (*cmp)(const void *, const void *));  ");
    CHECK_EQ(gort_sig_nargs(s), 4);
    CHECK_EQ(gort_sig_ret(s), GORT_T_VOID);
    CHECK_EQ(gort_sig_arg(s, 3), GORT_T_POINTER);
    CHECK_EQ(gort_sig_arg(s, 4), GORT_EINVAL);
    CHECK(strcmp(gort_sig_name(s), "qsort") == 0);
    gort_sig_free(s);
    s = sig_or_die("int main(int argc, char *argv[])");
    CHECK_EQ(gort_sig_arg(s, 1), GORT_T_POINTER);
    gort_sig_free(s);
    s = sig_or_die("double(double, double)");
    CHECK(strcmp(gort_sig_name(s), "") == 0);
    CHECK_EQ(gort_sig_nargs(s), 2);
    gort_sig_free(s);
    s = sig_or_die("int rand(void)");
    CHECK_EQ(gort_sig_nargs(s), 0);
    CHECK_EQ(gort_sig_variadic(s), 0);
    gort_sig_free(s);
    s = sig_or_die("int f()");
    CHECK_EQ(gort_sig_nargs(s), 0);
    gort_sig_free(s);
    CHECK_EQ(gort_type_size(GORT_T_INT16), 2);
    CHECK_EQ(gort_type_size(GORT_T_STRING), sizeof(char *));
    CHECK_EQ(gort_type_size(GORT_T_VOID), 0);
    CHECK_EQ(gort_type_size(99), 0);
    CHECK(strcmp(gort_type_name(99), "?") == 0);
    CHECK(strcmp(gort_type_name(-1), "?") == 0);
}

/* ---- many arguments (registers and stack) ------------------------------------ */

static double many(int8_t a, double b, uint16_t c, float d, int32_t e, double f, int64_t g,
                   double h, uint64_t i, double j, int k, double l, void *m, double n, long o,
                   double p, short q, double r, unsigned char s, float t)
{
    return a + b + c + d + e + f + (double)g + h + (double)i + j + k + l + (m ? 1000 : 0) + n +
           (double)o + p + q + r + s + t;
}

TEST(many_args)
{
    gort_sig *s = sig_or_die("double many(int8_t, double, uint16_t, float, int32_t, double, "
                             "int64_t, double, uint64_t, double, int, double, void *, double, "
                             "long, double, short, double, unsigned char, float)");
    CHECK_EQ(gort_sig_nargs(s), 20);
    int8_t a = -3;
    double b = 0.5, f = 0.25, h = 2, j = 3, l = 4, n = 5, p = 6, r = 7;
    uint16_t c = 65535;
    float d = 1.5f, t = -0.5f;
    int32_t e = -100000;
    int64_t g = -(1LL << 40);
    uint64_t i = 1ULL << 41;
    int k = 9;
    void *m = &s;
    long o = -11;
    short q = -12;
    unsigned char su = 200;
    void *args[] = {&a, &b, &c, &d, &e, &f, &g, &h, &i, &j, &k, &l, &m, &n, &o, &p, &q, &r, &su, &t};
    double want = many(a, b, c, d, e, f, g, h, i, j, k, l, m, n, o, p, q, r, su, t);
    double got = 0;
    CHECK_EQ(gort_call(s, FN(many), args, &got), 0);
    CHECK_MSG(got == want, "got %.17g want %.17g", got, want);
    gort_sig_free(s);
}

/* ---- structs by pointer, strings ---------------------------------------------- */

struct pt {
    int32_t x, y;
    double  w;
};

static void pt_scale(struct pt *p, int32_t k)
{
    p->x *= k;
    p->y *= k;
    p->w *= k;
}

static double pt_sum(const struct pt *p, size_t n)
{
    double s = 0;
    for (size_t i = 0; i < n; i++)
        s += p[i].x + p[i].y + p[i].w;
    return s;
}

TEST(structs_by_pointer)
{
    struct pt ps[3] = {{1, 2, 0.5}, {-3, 4, 1.5}, {INT32_MAX / 4, 0, 0}};
    gort_sig *scale = sig_or_die("void pt_scale(struct pt *p, int32_t k)");
    struct pt *pp = &ps[1];
    CHECK_EQ(gort_call(scale, FN(pt_scale), (void *[]){&pp, &(int32_t){3}}, NULL), 0);
    CHECK(ps[1].x == -9 && ps[1].y == 12 && ps[1].w == 4.5);
    CHECK(ps[0].x == 1 && ps[2].y == 0); /* neighbours untouched */
    gort_sig *sum = sig_or_die("double pt_sum(const struct pt *, size_t)");
    const struct pt *cp = ps;
    size_t n = 3;
    double got = 0;
    CHECK_EQ(gort_call(sum, FN(pt_sum), (void *[]){&cp, &n}, &got), 0);
    CHECK(got == pt_sum(ps, 3));
    gort_sig_free(scale);
    gort_sig_free(sum);
}

TEST(strings)
{
    gort_sig *len = sig_or_die("size_t strlen(const char *s)");
    CHECK_EQ(gort_sig_arg(len, 0), GORT_T_STRING);
    const char *str = "gort native calls";
    size_t n = 0;
    CHECK_EQ(gort_call(len, FN(strlen), (void *[]){&str}, &n), 0);
    CHECK_EQ(n, strlen(str));
    gort_sig *chr = sig_or_die("char *strchr(const char *, int)");
    char *hit = NULL;
    CHECK_EQ(gort_call(chr, FN(strchr), (void *[]){&str, &(int){'n'}}, &hit), 0);
    CHECK(hit == str + 5);
    gort_sig_free(len);
    gort_sig_free(chr);
}

/* A string that must not parse: where and why. */
typedef struct bad_case {
    const char *text;
    size_t      pos;
    const char *msg;
} bad_case;

/* Check a GORT_EINVAL result, its reset output and its diagnosis. */
static void check_bad(const bad_case *c, int rc, const gort_sig *out, const gort_sig_diag *d)
{
    CHECK_MSG(rc == GORT_EINVAL && out == NULL, "'%s': %d", c->text, rc);
    CHECK_MSG(d->pos == c->pos && strstr(d->msg, c->msg), "'%s': at %zu '%s', want %zu '%s'",
              c->text, d->pos, d->msg, c->pos, c->msg);
}

/* ---- variadic -------------------------------------------------------------------- */

TEST(variadic)
{
    gort_sig *base = sig_or_die("int snprintf(char *buf, size_t n, const char *fmt, ...)");
    CHECK_EQ(gort_sig_variadic(base), 1);
    CHECK_EQ(gort_sig_nfixed(base), 3);
    CHECK_EQ(gort_sig_nargs(base), 3);
    char buf[128];
    char *bp = buf;
    size_t cap = sizeof buf;
    const char *fmt = "plain";
    int r = -1;
    /* a variadic signature called as is: fixed arguments only */
    CHECK_EQ(gort_call(base, FN(snprintf), (void *[]){&bp, &cap, &fmt}, &r), 0);
    CHECK(r == 5 && strcmp(buf, "plain") == 0);

    gort_sig *v = NULL;
    gort_sig_diag d = {0};
    CHECK_EQ(gort_sig_new_var(&v, base, "int, const char *, double, long long, unsigned, void *", &d), 0);
    CHECK_EQ(gort_sig_nargs(v), 9);
    CHECK_EQ(gort_sig_nfixed(v), 3);
    CHECK_EQ(gort_sig_variadic(v), 1);
    CHECK_EQ(gort_sig_arg(v, 5), GORT_T_DOUBLE);
    CHECK(strcmp(gort_sig_name(v), "snprintf") == 0);
    gort_sig_free(base); /* the derived signature is independent */
    fmt = "%d|%s|%.3f|%lld|%u|%p";
    const char *word = "word";
    double x = -2.5;
    long long big = INT64_MIN;
    unsigned u = UINT32_MAX;
    void *nil = NULL;
    void *args[] = {&bp, &cap, &fmt, &(int){-7}, &word, &x, &big, &u, &nil};
    CHECK_EQ(gort_call(v, FN(snprintf), args, &r), 0);
    char want[128];
    int wr = snprintf(want, sizeof want, fmt, -7, word, x, big, u, nil);
    CHECK_MSG(r == wr && strcmp(buf, want) == 0, "got %d '%s', want %d '%s'", r, buf, wr, want);

    /* a derived signature can be the base of another (its fixed part counts) */
    gort_sig *v2 = NULL;
    CHECK_EQ(gort_sig_new_var(&v2, v, "", &d), 0);
    CHECK_EQ(gort_sig_nargs(v2), 3);
    gort_sig_free(v2);

    /* promoted types are refused, with the offset in the type list */
    static const bad_case bad[] = {
        {"int, float", 5, "promoted to double"},
        {"short", 0, "promoted to int"},
        {"int, char", 5, "promoted to int"},
        {"bool", 0, "promoted to int"},
        {"int,, int", 4, "expected a type"},
        {"int double", 4, "unexpected 'double'"},
        {"int x", 4, "expected ',' or the end"},
        {"void", 0, "type void"},
        {"struct s", 0, "by value"},
        {"frob", 0, "unknown type name 'frob'"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        gort_sig *out = (gort_sig *)&d; /* must be reset to NULL */
        memset(&d, 0, sizeof d);
        int rc = gort_sig_new_var(&out, v, bad[i].text, &d);
        check_bad(&bad[i], rc, out, &d);
    }
    gort_sig *plain = sig_or_die("int f(int)");
    CHECK_EQ(gort_sig_new_var(&v2, plain, "int", &d), GORT_EINVAL);
    CHECK(strstr(d.msg, "not variadic"));
    CHECK_EQ(gort_sig_new_var(&v2, NULL, "int", NULL), GORT_EINVAL);
    CHECK_EQ(gort_sig_new_var(&v2, v, NULL, NULL), GORT_EINVAL);
    gort_sig_free(plain);
    gort_sig_free(v);
}

/* ---- parse errors ------------------------------------------------------------------ */

TEST(parse_errors)
{
    static const bad_case t[] = {
        {"", 0, "empty declaration"},
        {"   ", 3, "empty declaration"},
        {"double pow(double, double", 25, "expected ',' or ')', got the end"},
        {"double pow(double double)", 18, "unexpected 'double' after a complete type"},
        {"double pow(double x y)", 20, "expected ',' or ')', got 'y'"},
        {"uLong crc32(uLong, const Bytef *, uInt)", 0, "unknown type name 'uLong'"},
        {"int f(int, uInt)", 11, "unknown type name 'uInt'"},
        {"long double f(void)", 0, "long double is not supported"},
        {"unsigned double f(void)", 0, "invalid combination"},
        {"short long f(void)", 0, "invalid combination"},
        {"signed unsigned f(void)", 0, "invalid combination"},
        {"long long long f(void)", 0, "invalid combination"},
        {"struct pt f(void)", 0, "by value"},
        {"int f(struct pt p)", 6, "by value"},
        {"int f(void x)", 6, "type void"},
        {"int f(int, void)", 11, "type void"},
        {"int f(...)", 6, "at least one fixed parameter"},
        {"int f(int, ..., int)", 14, "'...' must be the last parameter"},
        {"int f(int, ..)", 11, "expected '...'"},
        {"int f(int) x", 11, "expected the end of the declaration, got 'x'"},
        {"int f(int);;", 11, "expected the end of the declaration"},
        {"int f", 5, "expected '(' after the function name"},
        {"int", 3, "expected a function name or '('"},
        {"(int)", 0, "expected a type"},
        {"int f(int (x)(int))", 10, "expected '(*'"},
        {"int f(int (*x)(int)", 19, "expected ',' or ')'"},
        {"int f(int (*x)(int)", 19, "got the end"},
        {"int f(int a[3)", 13, "expected ']'"},
        {"int f(struct)", 12, "expected a tag name"},
        {"int f(int %)", 10, "expected ',' or ')', got '%'"},
        {"const f(void)", 6, "unknown type name 'f'"},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        gort_sig *s = (gort_sig *)&t; /* must be reset to NULL */
        gort_sig_diag d;
        memset(&d, 0, sizeof d);
        int rc = gort_sig_parse(&s, t[i].text, &d);
        check_bad(&t[i], rc, s, &d);
        CHECK_EQ(gort_sig_new(&s, t[i].text), GORT_EINVAL); /* no diag: same code */
    }
    /* too many parameters */
    size_t cap = 16 + 5 * (GORT_SIG_MAX_ARGS + 1);
    char *big = malloc(cap);
    CHECK(big);
    size_t n = (size_t)snprintf(big, cap, "int f(");
    for (int i = 0; i <= GORT_SIG_MAX_ARGS; i++)
        n += (size_t)snprintf(big + n, cap - n, "int,");
    big[n - 1] = ')';
    gort_sig *s = NULL;
    gort_sig_diag d;
    CHECK_EQ(gort_sig_parse(&s, big, &d), GORT_EINVAL);
    CHECK_MSG(strstr(d.msg, "too many parameters") && d.pos == 6 + 4 * GORT_SIG_MAX_ARGS,
              "at %zu: %s", d.pos, d.msg);
    big[6 + 4 * GORT_SIG_MAX_ARGS - 1] = ')';
    big[6 + 4 * GORT_SIG_MAX_ARGS] = '\0';
    s = sig_or_die(big); /* exactly the maximum */
    CHECK_EQ(gort_sig_nargs(s), GORT_SIG_MAX_ARGS);
    gort_sig_free(s);
    free(big);
    CHECK_EQ(gort_sig_parse(NULL, "int f(void)", &d), GORT_EINVAL);
    CHECK_EQ(gort_sig_parse(&s, NULL, &d), GORT_EINVAL);
    CHECK(s == NULL && strstr(d.msg, "NULL"));
}

/* ---- bad input ------------------------------------------------------------------------ */

static int64_t add64(int64_t a, int64_t b)
{
    return a + b;
}

TEST(bad_input)
{
    gort_sig *s = sig_or_die("int64_t add(int64_t, int64_t)");
    int64_t a = 1, b = 2, r = 0;
    CHECK_EQ(gort_call(s, NULL, (void *[]){&a, &b}, &r), GORT_EINVAL);
    CHECK_EQ(gort_call(NULL, FN(add64), (void *[]){&a, &b}, &r), GORT_EINVAL);
    CHECK_EQ(gort_call(s, FN(add64), NULL, &r), GORT_EINVAL);
    /* too few arguments in a NULL-terminated array */
    CHECK_EQ(gort_call(s, FN(add64), (void *[]){&a, NULL}, &r), GORT_EINVAL);
    CHECK_EQ(r, 0);
    CHECK_EQ(gort_call(s, FN(add64), (void *[]){&a, &b}, NULL), 0); /* result discarded */
    CHECK_EQ(gort_call(s, FN(add64), (void *[]){&a, &b}, &r), 0);
    CHECK_EQ(r, 3);
    /* no engine needed for gort_call; the async forms need one */
    CHECK(!gort_initialized());
    CHECK(gort_call_async(s, FN(add64), (void *[]){&a, &b}) == NULL);
    CHECK_EQ(gort_go_call(s, FN(add64), (void *[]){&a, &b}), GORT_ENOTINIT);
    CHECK_EQ(gort_init(NULL), 0);
    CHECK(gort_call_async(s, NULL, (void *[]){&a, &b}) == NULL);
    CHECK(gort_call_async(NULL, FN(add64), (void *[]){&a, &b}) == NULL);
    CHECK(gort_call_async(s, FN(add64), (void *[]){&a, NULL}) == NULL);
    CHECK_EQ(gort_go_call(s, NULL, (void *[]){&a, &b}), GORT_EINVAL);
    CHECK_EQ(gort_go_call(s, FN(add64), NULL), GORT_EINVAL);
    gort_promise *p = gort_call_async(s, FN(add64), (void *[]){&a, &b});
    CHECK(p);
    CHECK_EQ(gort_await(p), 0);
    CHECK_EQ(*(int64_t *)gort_promise_value(p), 3);
    gort_promise_release(p);
    gort_shutdown();
    /* after shutdown */
    CHECK(gort_call_async(s, FN(add64), (void *[]){&a, &b}) == NULL);
    CHECK_EQ(gort_go_call(s, FN(add64), (void *[]){&a, &b}), GORT_ENOTINIT);
    CHECK_EQ(gort_call(s, FN(add64), (void *[]){&a, &b}, &r), 0);
    gort_sig_free(s);
    gort_sig_free(NULL);
    CHECK_EQ(gort_sig_nargs(NULL), 0);
    CHECK_EQ(gort_sig_ret(NULL), GORT_EINVAL);
    CHECK_EQ(gort_sig_arg(NULL, 0), GORT_EINVAL);
    CHECK(strcmp(gort_sig_name(NULL), "") == 0);
}

/* ---- async ------------------------------------------------------------------------------ */

/* Each call gets (i, -3i + k) and must return their sum; a batch of calls is
 * in flight at once, then all are checked. */
typedef struct storm {
    gort_sig *sig;
    long      n;
    long      bad;
} storm;

static void storm_main(void *arg)
{
    storm *st = arg;
    /* a synchronous call from a goroutine, too */
    int64_t x = INT64_MAX - 1, y = 1, r = 0;
    GCHECK(gort_call(st->sig, FN(add64), (void *[]){&x, &y}, &r) == 0 && r == INT64_MAX);
    enum { BATCH = 256 };
    gort_promise *ps[BATCH];
    int64_t want[BATCH];
    for (long base = 0; base < st->n; base += BATCH) {
        long m = st->n - base < BATCH ? st->n - base : BATCH;
        for (long i = 0; i < m; i++) {
            int64_t a = base + i, b = -3 * (base + i) + INT32_MAX;
            want[i] = a + b;
            ps[i] = gort_call_async(st->sig, FN(add64), (void *[]){&a, &b}); /* values copied now */
            GCHECK(ps[i]);
        }
        for (long i = 0; i < m; i++) {
            if (!ps[i])
                continue;
            if (gort_await(ps[i]) != 0 || *(int64_t *)gort_promise_value(ps[i]) != want[i])
                st->bad++;
            gort_promise_release(ps[i]);
        }
    }
}

TEST(async_100k_all_checked)
{
    storm st = {.sig = sig_or_die("int64_t add(int64_t, int64_t)"), .n = T_SCALE(100000)};
    run_main(storm_main, &st);
    CHECK_GOROUTINES();
    CHECK_EQ(st.bad, 0);
    gort_sig_free(st.sig);
}

static int8_t neg8(int8_t v)
{
    return (int8_t)-v;
}
static uint16_t not16(uint16_t v)
{
    return (uint16_t)~v;
}
static float half(float v)
{
    return v / 2;
}
static _Atomic long void_calls;
static void count_call(int32_t k)
{
    atomic_fetch_add(&void_calls, k);
}

TEST(async_result_widths_foreign_thread)
{
    CHECK_EQ(gort_init(NULL), 0);
    gort_sig *s8 = sig_or_die("int8_t(int8_t)");
    gort_sig *s16 = sig_or_die("uint16_t(uint16_t)");
    gort_sig *sf = sig_or_die("float(float)");
    gort_sig *sv = sig_or_die("void(int32_t)");
    gort_sig *sp = sig_or_die("char *(char *)");
    gort_promise *p8 = gort_call_async(s8, FN(neg8), (void *[]){&(int8_t){INT8_MAX}});
    gort_promise *p16 = gort_call_async(s16, FN(not16), (void *[]){&(uint16_t){1}});
    gort_promise *pf = gort_call_async(sf, FN(half), (void *[]){&(float){-3.0f}});
    gort_promise *pv = gort_call_async(sv, FN(count_call), (void *[]){&(int32_t){5}});
    char *msg = "kept alive by the caller";
    gort_promise *ps = gort_call_async(sp, FN(id_str), (void *[]){&msg});
    CHECK(p8 && p16 && pf && pv && ps);
    /* awaited from this foreign thread: it blocks */
    CHECK_EQ(gort_await(p8), 0);
    CHECK_EQ(*(int8_t *)gort_promise_value(p8), -INT8_MAX);
    CHECK_EQ(gort_await(p16), 0);
    CHECK_EQ(*(uint16_t *)gort_promise_value(p16), UINT16_MAX - 1);
    CHECK_EQ(gort_await(pf), 0);
    CHECK(*(float *)gort_promise_value(pf) == -1.5f);
    CHECK_EQ(gort_await(pv), 0);
    CHECK(gort_promise_value(pv) == NULL);
    CHECK_EQ(atomic_load(&void_calls), 5);
    CHECK_EQ(gort_await(ps), 0);
    CHECK(*(char **)gort_promise_value(ps) == msg);
    gort_promise *all[] = {p8, p16, pf, pv, ps};
    for (size_t i = 0; i < 5; i++)
        gort_promise_release(all[i]);
    /* fire and forget */
    for (int i = 0; i < 100; i++)
        CHECK_EQ(gort_go_call(sv, FN(count_call), (void *[]){&(int32_t){1}}), 0);
    gort_sig_free(sv); /* the jobs hold their own references */
    int64_t dl = hatch();
    while (atomic_load(&void_calls) < 105 && gort_now() < dl)
        gort_yield();
    CHECK_EQ(atomic_load(&void_calls), 105);
    gort_sig_free(s8);
    gort_sig_free(s16);
    gort_sig_free(sf);
    gort_sig_free(sp);
    gort_shutdown();
}

/* One P. A pool call blocks in read(2) on a pipe; the goroutine that
 * writes the byte can only run if the blocked call gave its P away. */
typedef struct blocker {
    gort_sig     *rd;
    int           fds[2];
    gort_chan    *ch;
    int           wrote;
} blocker;

static void writer_g(void *arg)
{
    blocker *b = arg;
    gort_chan_send(b->ch, &(int){1}); /* other goroutines run... */
    b->wrote = (int)write(b->fds[1], "x", 1); /* ...and release the reader */
}

static void blocking_main(void *arg)
{
    blocker *b = arg;
    char byte = 0;
    char *bp = &byte;
    size_t one = 1;
    gort_promise *p = gort_call_async(b->rd, FN(read), (void *[]){&b->fds[0], &bp, &one});
    GCHECK(p);
    if (!p)
        return;
    /* let the call start: it holds the only P until the handoff */
    gort_yield();
    GCHECK(gort_go(writer_g, b) == 0);
    int v = 0;
    GCHECK(gort_chan_recv(b->ch, &v) == 0 && v == 1);
    GCHECK(gort_await_until(p, hatch()) == 0);
    GCHECK(gort_promise_state(p) == GORT_FULFILLED && *(ssize_t *)gort_promise_value(p) == 1);
    GCHECK(byte == 'x');
    gort_promise_release(p);
}

TEST(async_blocking_call_one_p)
{
    blocker b = {.rd = sig_or_die("ssize_t read(int, void *, size_t)")};
    CHECK_EQ(pipe(b.fds), 0);
    b.ch = gort_chan_make(sizeof(int), 0);
    CHECK_EQ(init_procs(1), 0);
    CHECK_EQ(gort_procs(), 1);
    run_main(blocking_main, &b);
    gort_shutdown();
    CHECK_GOROUTINES();
    CHECK_EQ(b.wrote, 1);
    gort_chan_release(b.ch);
    close(b.fds[0]);
    close(b.fds[1]);
    gort_sig_free(b.rd);
}

/* One P, a call in usleep(3) for a second (up to 5 in slow runs): a
 * goroutine ping-pong completes while the call still sleeps. */
typedef struct sleeper {
    gort_sig  *sig;
    gort_chan *ping, *pong;
    int        pending_after;
} sleeper;

static void ponger(void *arg)
{
    sleeper *s = arg;
    int v;
    while (gort_chan_recv(s->ping, &v) == 0)
        gort_chan_send(s->pong, &v);
}

static void sleeper_main(void *arg)
{
    sleeper *s = arg;
    unsigned us = (unsigned)(1000000 * (slow() < 5 ? slow() : 5)); /* >> the 20 us handoff */
    gort_promise *p = gort_call_async(s->sig, FN(usleep), (void *[]){&us});
    GCHECK(p);
    if (!p)
        return;
    gort_yield();
    GCHECK(gort_go(ponger, s) == 0);
    for (int i = 0; i < 100; i++) {
        int v = i, w = -1;
        gort_chan_send(s->ping, &v);
        gort_chan_recv(s->pong, &w);
        GCHECK(w == i);
    }
    s->pending_after = gort_promise_state(p) == GORT_PENDING;
    gort_chan_close(s->ping);
    GCHECK(gort_await(p) == 0 && *(int *)gort_promise_value(p) == 0);
    gort_promise_release(p);
}

TEST(async_sleep_does_not_stall_one_p)
{
    sleeper s = {.sig = sig_or_die("int usleep(unsigned)"),
                 .ping = gort_chan_make(sizeof(int), 0),
                 .pong = gort_chan_make(sizeof(int), 0)};
    CHECK_EQ(init_procs(1), 0);
    run_main(sleeper_main, &s);
    gort_shutdown();
    CHECK_GOROUTINES();
    CHECK_MSG(s.pending_after, "the ping-pong waited for usleep: the P was not handed off");
    gort_chan_release(s.ping);
    gort_chan_release(s.pong);
    gort_sig_free(s.sig);
}

/* Two Ps, a batch of 8 x procs CPU-bound calls (each ~1 ms of CPU, well
 * under sysmon's compute slice): a thread that computes in a blocking call
 * keeps its P, so no more calls run at once than there are Ps (before,
 * sysmon handed the P of every call to a new M after 20 us, and the whole
 * batch ran at once on as many threads). The callee counts itself in and
 * out; the results prove every call ran its loop. */
static _Atomic int crunch_running, crunch_max;

static uint64_t lcg_steps(uint64_t n)
{
    uint64_t x = n;
    for (uint64_t i = 0; i < n; i++)
        x = x * 6364136223846793005u + 1442695040888963407u;
    return x;
}

static uint64_t crunch(uint64_t n)
{
    int now = atomic_fetch_add(&crunch_running, 1) + 1;
    int max = atomic_load(&crunch_max);
    while (now > max && !atomic_compare_exchange_weak(&crunch_max, &max, now)) {
    }
    uint64_t x = lcg_steps(n);
    atomic_fetch_sub(&crunch_running, 1);
    return x;
}

TEST(async_cpu_bound_batch_runs_procs_at_once)
{
    enum { PROCS = 2, N = 8 * PROCS };
    CHECK_EQ(init_procs(PROCS), 0);
    gort_sig *sig = sig_or_die("uint64_t crunch(uint64_t n)");
    uint64_t n = (uint64_t)T_SCALE(1000000);
    gort_promise *ps[N];
    for (int i = 0; i < N; i++) {
        uint64_t ni = n + (uint64_t)i;
        ps[i] = gort_call_async(sig, FN(crunch), (void *[]){&ni});
        CHECK(ps[i]);
    }
    for (int i = 0; i < N; i++) {
        CHECK_EQ(gort_await_until(ps[i], hatch()), 0);
        CHECK_EQ(*(uint64_t *)gort_promise_value(ps[i]), lcg_steps(n + (uint64_t)i));
        gort_promise_release(ps[i]);
    }
    CHECK_MSG(atomic_load(&crunch_max) <= PROCS, "%d CPU-bound calls ran at once on %d Ps",
              atomic_load(&crunch_max), PROCS);
    gort_sig_free(sig);
    gort_shutdown();
}

/* The calling thread's scheduler slice as sched_getattr reports it (a fair-
 * class thread's sched_runtime), or 0 if it cannot tell. */
struct test_sched_attr {
    uint32_t size, policy;
    uint64_t flags;
    int32_t  nice;
    uint32_t prio;
    uint64_t runtime, deadline, period;
};

static uint64_t my_slice(void)
{
    struct test_sched_attr a = {0};
    if (syscall(SYS_sched_getattr, 0, &a, sizeof a, 0) != 0)
        return 0;
    return a.runtime;
}

/* Computes for 1 ms of wall time (a long call however slow the machine),
 * then reports the slice it ran with. */
static uint64_t spin_then_slice(void)
{
    int64_t end = gort_now() + GORT_MILLISECOND;
    while (gort_now() < end)
        ;
    return my_slice();
}

static uint64_t slice_now(void)
{
    return my_slice();
}

/* A function whose last call was long runs with the long slice (ffi.c's
 * LONG_CALL_SLICE_NS, 10 ms); the first call of a function does not, and
 * every thread is back to its own slice when the call has returned (short
 * calls, on the same two threads, see the default). */
TEST(async_long_calls_run_with_a_long_slice_restored_after)
{
    uint64_t dflt = my_slice();
    struct test_sched_attr a = {.size = sizeof a, .runtime = 10 * GORT_MILLISECOND};
    if (dflt == 0 || syscall(SYS_sched_setattr, 0, &a, 0) != 0 ||
        my_slice() != 10 * GORT_MILLISECOND)
        SKIP("the kernel does not take a fair-class slice (Linux >= 6.12) here");
    a.runtime = 0;
    CHECK_EQ(syscall(SYS_sched_setattr, 0, &a, 0), 0);
    CHECK_EQ(my_slice(), dflt);
    CHECK_EQ(init_procs(2), 0);
    gort_sig *spin = sig_or_die("uint64_t spin_then_slice(void)");
    for (int i = 0; i < 5; i++) {
        gort_promise *p = gort_call_async(spin, FN(spin_then_slice), NULL);
        CHECK(p);
        CHECK_EQ(gort_await_until(p, hatch()), 0);
        uint64_t got = *(uint64_t *)gort_promise_value(p);
        if (i == 0)
            CHECK_MSG(got != 10 * GORT_MILLISECOND, "first call ran with the long slice");
        else
            CHECK_MSG(got == 10 * GORT_MILLISECOND, "call %d ran with slice %llu", i,
                      (unsigned long long)got);
        gort_promise_release(p);
    }
    /* Each short call through a signature of its own: the hint is per
     * signature and a short call can itself take 200 us on a slow machine
     * (Valgrind), which would give the next call through it the long slice
     * by design; a signature's first call never has it. */
    enum { N = 32 };
    gort_promise *ps[N];
    gort_sig *nows[N];
    for (int i = 0; i < N; i++)
        nows[i] = sig_or_die("uint64_t slice_now(void)");
    for (int i = 0; i < N; i++)
        CHECK((ps[i] = gort_call_async(nows[i], FN(slice_now), NULL)));
    for (int i = 0; i < N; i++) {
        CHECK_EQ(gort_await_until(ps[i], hatch()), 0);
        CHECK_EQ(*(uint64_t *)gort_promise_value(ps[i]), dflt);
        gort_promise_release(ps[i]);
        gort_sig_free(nows[i]);
    }
    gort_sig_free(spin);
    gort_shutdown();
}

/* gort_sig_free while jobs using the signature are blocked in the call. */
TEST(async_sig_free_in_flight)
{
    int fds[2];
    CHECK_EQ(pipe(fds), 0);
    CHECK_EQ(gort_init(NULL), 0);
    gort_sig *rd = sig_or_die("ssize_t read(int fd, void *buf, size_t n)");
    enum { N = 8 };
    char bytes[N] = {0};
    gort_promise *ps[N];
    for (int i = 0; i < N; i++) {
        char *bp = &bytes[i];
        size_t one = 1;
        ps[i] = gort_call_async(rd, FN(read), (void *[]){&fds[0], &bp, &one});
        CHECK(ps[i]);
    }
    gort_sig_free(rd);
    CHECK_EQ(write(fds[1], "abcdefgh", N), N);
    for (int i = 0; i < N; i++) {
        CHECK_EQ(gort_await_until(ps[i], hatch()), 0);
        CHECK_EQ(*(ssize_t *)gort_promise_value(ps[i]), 1);
        gort_promise_release(ps[i]);
    }
    int seen = 0;
    for (int i = 0; i < N; i++)
        seen |= 1 << (bytes[i] - 'a');
    CHECK_EQ(seen, (1 << N) - 1);
    gort_shutdown();
    close(fds[0]);
    close(fds[1]);
}

#else /* !GORT_TEST_WITH_FFI */

static void nop(void) {}

TEST(without_ffi)
{
    gort_sig *s = (gort_sig *)&s;
    gort_sig_diag d = {0};
    CHECK_EQ(gort_sig_parse(&s, "double pow(double, double)", &d), GORT_ENOSYS);
    CHECK(s == NULL && strstr(d.msg, "GORT_WITH_FFI=OFF"));
    CHECK_EQ(gort_sig_new(&s, "int f(void)"), GORT_ENOSYS);
    CHECK_EQ(gort_sig_new_var(&s, NULL, "int", NULL), GORT_ENOSYS);
    CHECK_EQ(gort_call(NULL, nop, NULL, NULL), GORT_ENOSYS);
    CHECK_EQ(gort_init(NULL), 0);
    CHECK(gort_call_async(NULL, nop, NULL) == NULL);
    CHECK_EQ(gort_go_call(NULL, nop, NULL), GORT_ENOSYS);
    gort_shutdown();
    CHECK_EQ(gort_type_size(GORT_T_DOUBLE), 8);
    CHECK(strcmp(gort_type_name(GORT_T_UINT64), "uint64_t") == 0);
}

#endif

HARNESS_MAIN()
