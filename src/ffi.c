/*
 * ffi.c — native calls: any C function, from its C declaration, on the
 * calling thread or on a pool goroutine (libffi).
 *
 * Concepts
 *   A gort_sig is a parsed C declaration plus the libffi call interface
 *   (ffi_cif) prepared from it once. gort_call runs ffi_call with it on the
 *   caller's stack; gort_call_async copies the argument values into one
 *   heap block (the "job") and runs the call on a pool goroutine.
 *
 * Declaration grammar (a subset of C's, what ctypes/cffi users write):
 *     decl   := type [name] '(' params ')' [';']
 *     params := <empty> | 'void' | param {',' param} [',' '...']
 *     param  := type [name] {'[' [digits] ']'}          arrays decay to pointers
 *             | type '(' '*' [name] ')' '(' ... ')'      a function pointer
 *     type   := {qualifier} specifiers {qualifier} {'*' {qualifier}}
 *   qualifiers (const, volatile, restrict, __restrict) are accepted and
 *   ignored; "struct/union/enum tag" is a type (structs and unions only
 *   behind a pointer, enum as int). The variadic part of a call is a plain
 *   comma-separated type list (gort_sig_new_var). Errors report the byte
 *   offset of the offending token and what was expected (gort_sig_diag):
 *   an out-parameter rather than a thread-local, because a goroutine may
 *   move to another thread between a failing call and the read-back.
 *
 * Type table (LP64: x86-64 and AArch64 Linux)
 *   GORT_T_*    C spellings                                 libffi type
 *   BOOL        bool, _Bool                                 uint8
 *   INT8/UINT8  signed/unsigned char, int8_t/uint8_t, char  sint8/uint8
 *               (plain char follows the platform's signedness)
 *   INT16/..    short, int16_t, unsigned short, uint16_t    sint16/uint16
 *   INT32/..    int, int32_t, enum, unsigned, uint32_t      sint32/uint32
 *   INT64/..    long, long long, int64_t, ssize_t, intptr_t, ptrdiff_t,
 *               off_t / their unsigned forms, size_t, uintptr_t
 *   FLOAT       float                                       float
 *   DOUBLE      double                                      double
 *   POINTER     T *, void *, struct s *, T[], T (*)(...)    pointer
 *   STRING      char *, const char *                        pointer
 *   VOID        void (result only)                          void
 *
 * Values
 *   Callers hand each argument as a pointer to a value of exactly its C
 *   type, and receive exactly the C type's size in ret. libffi returns
 *   integers narrower than a register widened to ffi_arg in a register-sized
 *   slot: ffi.c calls into its own slot and narrows into ret (so callers
 *   never need libffi's "at least sizeof(ffi_arg)" rule).
 *
 * Async calls: copies and ownership
 *   One malloc per call holds, in order: the result slot, the job header,
 *   the argument pointer array and one 8-byte slot per argument (every type
 *   fits in 8 bytes). The values are copied there at the call; pointed-to
 *   memory is not (the caller keeps it alive until the promise settles).
 *   The goroutine runs ffi_call inside gort_blocking, so a call that blocks
 *   in the kernel gives its P to other goroutines after the sysmon's handoff
 *   delay (20 us, as Go treats cgo calls). A call that computes keeps its P
 *   while it does, up to a 10 ms CPU slice (sysmon.c reads the thread's CPU
 *   clock): a batch of CPU-bound calls therefore runs GORT_PROCS at a time,
 *   like a thread pool of that size, instead of on one thread per call
 *   (which thrashed the caches and starved the caller's event-loop thread
 *   of CPU); a call predicted long runs with a long scheduler slice, so
 *   that the event-loop thread preempts it when it wakes (below, "long
 *   calls yield to woken threads"). The promise is then
 *   fulfilled with the block itself and free as its destructor: the value
 *   pointer is the result slot at offset 0, so the one allocation is the
 *   promise's copy of the result; for a void function the block is freed and
 *   the promise fulfilled with NULL.
 *
 * Thread safety and lifetime of a signature
 *   A gort_sig's declaration is never written after gort_sig_parse returns
 *   (ffi_call takes the cif by non-const pointer but only reads it), so any
 *   number of threads may call through one signature at once. It is
 *   reference counted: every job holds a reference from
 *   gort_call_async/gort_go_call until its call returned, so gort_sig_free
 *   during in-flight jobs is safe. The count and the long-call hint (a
 *   relaxed flag, see "long calls yield" below) are the only mutable
 *   fields: the final decrement is acq_rel so that every job's reads happen
 *   before the free.
 *
 * Rejected alternatives
 *   - A thread-local "last parse error" (gort_sig_error()): unsafe for
 *     goroutines, which migrate between threads.
 *   - Per-call variadic types in gort_call (an extra type list argument):
 *     the signatures are fixed, and preparing a cif per call costs; a derived
 *     signature (gort_sig_new_var) is prepared once and reused.
 *   - A separate allocation for the async result: the job block already
 *     holds it, and nothing else in the block is needed after the call.
 *   - gort_call entering gort_blocking on goroutines: it would forbid the
 *     called function from using gort and cost two atomic transitions per
 *     call; callers that block wrap it (or use gort_call_async).
 */
#include "internal.h"

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the type table (needs no libffi) ------------------------------------- */

GORT_API size_t gort_type_size(int type)
{
    switch (type) {
    case GORT_T_BOOL:
    case GORT_T_INT8:
    case GORT_T_UINT8:
        return 1;
    case GORT_T_INT16:
    case GORT_T_UINT16:
        return 2;
    case GORT_T_INT32:
    case GORT_T_UINT32:
    case GORT_T_FLOAT:
        return 4;
    case GORT_T_INT64:
    case GORT_T_UINT64:
    case GORT_T_DOUBLE:
        return 8;
    case GORT_T_POINTER:
    case GORT_T_STRING:
        return sizeof(void *);
    default:
        return 0;
    }
}

GORT_API const char *gort_type_name(int type)
{
    static const char *const names[] = {
        [GORT_T_VOID] = "void",       [GORT_T_BOOL] = "bool",     [GORT_T_INT8] = "int8_t",
        [GORT_T_UINT8] = "uint8_t",   [GORT_T_INT16] = "int16_t", [GORT_T_UINT16] = "uint16_t",
        [GORT_T_INT32] = "int32_t",   [GORT_T_UINT32] = "uint32_t", [GORT_T_INT64] = "int64_t",
        [GORT_T_UINT64] = "uint64_t", [GORT_T_FLOAT] = "float",   [GORT_T_DOUBLE] = "double",
        [GORT_T_POINTER] = "void *",  [GORT_T_STRING] = "char *",
    };
    if (type < 0 || (size_t)type >= sizeof names / sizeof names[0])
        return "?";
    return names[type];
}

#if GORT_HAVE_FFI

#include <ffi.h>
#include <errno.h>
#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>

/* ---- the parser ------------------------------------------------------------ */

/* What a parse produces before it becomes a gort_sig. */
typedef struct parsed {
    uint8_t     ret;                       /* GORT_T_* of the result */
    uint8_t     args[GORT_SIG_MAX_ARGS];   /* GORT_T_* of each parameter */
    size_t      nargs;                     /* parameters parsed */
    bool        variadic;                  /* "..." ended the list */
    const char *name;                      /* function name in the input, or NULL */
    size_t      name_len;
} parsed;

/* Parser state over one NUL-terminated input. */
typedef struct parser {
    const char    *s;    /* the input */
    size_t         pos;  /* offset of the next unread byte */
    gort_sig_diag *diag; /* where errors go (may be NULL) */
} parser;

/* Record an error at offset pos; always returns GORT_EINVAL. */
static int perr(parser *p, size_t pos, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int perr(parser *p, size_t pos, const char *fmt, ...)
{
    if (p->diag) {
        p->diag->pos = pos;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(p->diag->msg, sizeof p->diag->msg, fmt, ap);
        va_end(ap);
    }
    return GORT_EINVAL;
}

static bool is_ident_start(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static bool is_ident_char(char c)
{
    return is_ident_start(c) || (c >= '0' && c <= '9');
}

static void skip_space(parser *p)
{
    while (p->s[p->pos] == ' ' || p->s[p->pos] == '\t' || p->s[p->pos] == '\n' ||
           p->s[p->pos] == '\r')
        p->pos++;
}

/* Peek: offset of the next token (after white space). */
static char peek(parser *p)
{
    skip_space(p);
    return p->s[p->pos];
}

static bool take(parser *p, char c)
{
    if (peek(p) != c)
        return false;
    p->pos++;
    return true;
}

/* Length of the identifier at the next token (0 if none). */
static size_t ident_len(parser *p)
{
    skip_space(p);
    size_t n = 0;
    if (is_ident_start(p->s[p->pos]))
        while (is_ident_char(p->s[p->pos + n]))
            n++;
    return n;
}

static bool word_is(const char *w, size_t n, const char *kw)
{
    return strlen(kw) == n && memcmp(w, kw, n) == 0;
}

/* Describe the next token for a message. */
static void describe_next(parser *p, char *buf, size_t size)
{
    size_t n = ident_len(p);
    char c = p->s[p->pos];
    if (n)
        snprintf(buf, size, "'%.*s'", (int)(n > 40 ? 40 : n), p->s + p->pos);
    else if (c == '\0')
        snprintf(buf, size, "the end");
    else
        snprintf(buf, size, "'%c'", c);
}

static int expected(parser *p, const char *what)
{
    char got[48];
    describe_next(p, got, sizeof got);
    return perr(p, p->pos, "expected %s, got %s", what, got);
}

/* Fixed-width and library typedef names. */
static const struct {
    const char *name;
    uint8_t     type;
} typedefs[] = {
    {"int8_t", GORT_T_INT8},       {"uint8_t", GORT_T_UINT8},     {"int16_t", GORT_T_INT16},
    {"uint16_t", GORT_T_UINT16},   {"int32_t", GORT_T_INT32},     {"uint32_t", GORT_T_UINT32},
    {"int64_t", GORT_T_INT64},     {"uint64_t", GORT_T_UINT64},   {"size_t", GORT_T_UINT64},
    {"ssize_t", GORT_T_INT64},     {"intptr_t", GORT_T_INT64},    {"uintptr_t", GORT_T_UINT64},
    {"ptrdiff_t", GORT_T_INT64},   {"off_t", GORT_T_INT64},       {"bool", GORT_T_BOOL},
    {"_Bool", GORT_T_BOOL},
};
/* GORT_T_* of a typedef name, or -1. */
static int typedef_type(const char *w, size_t n)
{
    for (size_t i = 0; i < sizeof typedefs / sizeof typedefs[0]; i++)
        if (word_is(w, n, typedefs[i].name))
            return typedefs[i].type;
    return -1;
}

_Static_assert(sizeof(long) == 8 && sizeof(void *) == 8 && sizeof(size_t) == 8,
               "the type table assumes LP64");

/* The base-type keywords a specifier list may contain (at most one). */
enum base { B_NONE, B_VOID, B_CHAR, B_INT, B_FLOAT, B_DOUBLE, B_TYPEDEF, B_RECORD, B_ENUM };

/* Specifier words seen so far in one type. */
typedef struct specs {
    enum base base;      /* the base keyword, B_NONE if only modifiers */
    uint8_t   tdef;      /* GORT_T_* for B_TYPEDEF */
    int       longs;     /* number of "long" */
    bool      shrt;      /* "short" */
    bool      sign;      /* "signed" */
    bool      unsign;    /* "unsigned" */
    size_t    start;     /* offset of the first word (for messages) */
} specs;

/* The integer type a specifier list names (base B_NONE, B_INT or B_CHAR). */
static uint8_t int_type(const specs *sp)
{
    if (sp->base == B_CHAR) {
        if (sp->unsign || (!sp->sign && CHAR_MIN == 0))
            return GORT_T_UINT8;
        return GORT_T_INT8;
    }
    if (sp->shrt)
        return sp->unsign ? GORT_T_UINT16 : GORT_T_INT16;
    if (sp->longs)
        return sp->unsign ? GORT_T_UINT64 : GORT_T_INT64;
    return sp->unsign ? GORT_T_UINT32 : GORT_T_INT32;
}

/* Check the combination of words and name the base value type. */
static int finish_specs(parser *p, const specs *sp, uint8_t *out)
{
    bool mods = sp->longs || sp->shrt || sp->sign || sp->unsign;
    bool intlike = sp->base == B_NONE || sp->base == B_INT || sp->base == B_CHAR;
    if (sp->base == B_NONE && !mods)
        return expected(p, "a type");
    if (mods && !intlike) {
        if (sp->base == B_DOUBLE && sp->longs == 1 && !sp->shrt && !sp->sign && !sp->unsign)
            return perr(p, sp->start, "long double is not supported");
        return perr(p, sp->start, "invalid combination of type specifiers");
    }
    if ((sp->sign && sp->unsign) || (sp->shrt && sp->longs) || sp->longs > 2 ||
        (sp->base == B_CHAR && (sp->shrt || sp->longs)))
        return perr(p, sp->start, "invalid combination of type specifiers");
    switch (sp->base) {
    case B_VOID:
        *out = GORT_T_VOID;
        break;
    case B_FLOAT:
        *out = GORT_T_FLOAT;
        break;
    case B_DOUBLE:
        *out = GORT_T_DOUBLE;
        break;
    case B_TYPEDEF:
        *out = sp->tdef;
        break;
    case B_ENUM:
        *out = GORT_T_INT32;
        break;
    case B_RECORD:
        *out = GORT_T_POINTER; /* valid only behind a '*': checked by the caller */
        break;
    default:
        *out = int_type(sp);
        break;
    }
    return 0;
}

/* Set the base keyword once. */
static int set_base(parser *p, specs *sp, enum base b, size_t at, size_t n)
{
    if (sp->base != B_NONE)
        return perr(p, at, "unexpected '%.*s' after a complete type", (int)n, p->s + at);
    sp->base = b;
    return 0;
}

/* Consume a type qualifier (accepted and ignored) at the next token. */
static bool qualifier(parser *p)
{
    static const char *const quals[] = {"const", "volatile", "restrict", "__restrict",
                                        "__restrict__", "__const"};
    size_t n = ident_len(p);
    for (size_t i = 0; i < sizeof quals / sizeof quals[0]; i++)
        if (word_is(p->s + p->pos, n, quals[i])) {
            p->pos += n;
            return true;
        }
    return false;
}

/* One specifier or qualifier word at the next token. Returns 1 if it was
 * one (consumed), 0 if the word is not a type word (left in place), or
 * GORT_EINVAL. */
static int spec_word(parser *p, specs *sp)
{
    size_t n = ident_len(p);
    if (!n)
        return 0;
    const char *w = p->s + p->pos;
    size_t at = p->pos;
    if (qualifier(p))
        return 1;
    if (sp->start == SIZE_MAX)
        sp->start = at;
    int err = 0;
    if (word_is(w, n, "long"))
        sp->longs++;
    else if (word_is(w, n, "short"))
        sp->shrt = true;
    else if (word_is(w, n, "signed"))
        sp->sign = true;
    else if (word_is(w, n, "unsigned"))
        sp->unsign = true;
    else if (word_is(w, n, "void"))
        err = set_base(p, sp, B_VOID, at, n);
    else if (word_is(w, n, "char"))
        err = set_base(p, sp, B_CHAR, at, n);
    else if (word_is(w, n, "int"))
        err = set_base(p, sp, B_INT, at, n);
    else if (word_is(w, n, "float"))
        err = set_base(p, sp, B_FLOAT, at, n);
    else if (word_is(w, n, "double"))
        err = set_base(p, sp, B_DOUBLE, at, n);
    else if (word_is(w, n, "struct") || word_is(w, n, "union") || word_is(w, n, "enum")) {
        err = set_base(p, sp, w[0] == 'e' ? B_ENUM : B_RECORD, at, n);
        if (err)
            return err;
        p->pos += n;
        size_t tn = ident_len(p);
        if (!tn)
            return expected(p, "a tag name");
        p->pos += tn;
        return 1;
    } else {
        int td = typedef_type(w, n);
        if (td < 0) {
            /* Not a type word: the declarator's name, or an unknown type. */
            if (sp->base == B_NONE && !(sp->longs || sp->shrt || sp->sign || sp->unsign))
                return perr(p, at, "unknown type name '%.*s'", (int)(n > 40 ? 40 : n), w);
            return 0;
        }
        err = set_base(p, sp, B_TYPEDEF, at, n);
        sp->tdef = (uint8_t)td;
    }
    if (err)
        return err;
    p->pos += n;
    return 1;
}

/* A type with its pointer stars. *is_record: a struct/union named by value. */
static int parse_type(parser *p, uint8_t *out, bool *is_record, size_t *at)
{
    specs sp = {.base = B_NONE, .start = SIZE_MAX};
    skip_space(p);
    *at = p->pos;
    int r;
    while ((r = spec_word(p, &sp)) == 1)
        ;
    if (r < 0)
        return r;
    uint8_t base = GORT_T_VOID;
    if ((r = finish_specs(p, &sp, &base)) < 0)
        return r;
    int stars = 0;
    while (take(p, '*')) {
        stars++;
        while (qualifier(p))
            ;
    }
    *is_record = sp.base == B_RECORD && stars == 0;
    if (stars == 0)
        *out = base;
    else if (stars == 1 && sp.base == B_CHAR && !sp.sign && !sp.unsign)
        *out = GORT_T_STRING;
    else
        *out = GORT_T_POINTER;
    return 0;
}

/* Skip a balanced parenthesised list (the parameter list of a function
 * pointer type): the '(' is next. */
static int skip_parens(parser *p)
{
    size_t open = p->pos;
    int depth = 0;
    do {
        char c = peek(p);
        if (c == '\0')
            return perr(p, open, "unbalanced '('");
        depth += c == '(' ? 1 : c == ')' ? -1 : 0;
        p->pos++;
    } while (depth > 0);
    return 0;
}

/* After a parameter's type: [name] {'[' [n] ']'} or a function pointer
 * "(*name)(...)". May turn the type into a pointer. */
static int param_declarator(parser *p, uint8_t *type, bool *is_record)
{
    if (peek(p) == '(') {
        size_t open = p->pos;
        p->pos++;
        if (!take(p, '*'))
            return perr(p, open, "expected '(*' of a function pointer");
        size_t n = ident_len(p);
        p->pos += n;
        if (!take(p, ')'))
            return expected(p, "')'");
        if (peek(p) != '(')
            return expected(p, "the function pointer's parameter list");
        *type = GORT_T_POINTER;
        *is_record = false;
        return skip_parens(p);
    }
    p->pos += ident_len(p);
    while (take(p, '[')) {
        while (peek(p) >= '0' && peek(p) <= '9')
            p->pos++;
        if (!take(p, ']'))
            return expected(p, "']'");
        *type = GORT_T_POINTER;
        *is_record = false;
    }
    return 0;
}

/* Rules for a parameter's (or variadic argument's) type. */
static int check_value_type(parser *p, size_t at, uint8_t type, bool is_record, bool promoted)
{
    if (is_record)
        return perr(p, at, "structs and unions by value are not supported (pass a pointer)");
    if (type == GORT_T_VOID)
        return perr(p, at, "a parameter cannot have type void");
    if (promoted) {
        if (type == GORT_T_FLOAT)
            return perr(p, at, "a variadic float is promoted to double: declare it double");
        if (gort_type_size(type) < 4)
            return perr(p, at, "a variadic %s is promoted to int: declare it int",
                        gort_type_name(type));
    }
    return 0;
}

/* One parameter (or variadic argument type), appended to out. */
static int parse_param(parser *p, parsed *out, bool promoted)
{
    uint8_t type;
    bool rec;
    size_t at;
    int r = parse_type(p, &type, &rec, &at);
    if (r < 0)
        return r;
    if (!promoted && (r = param_declarator(p, &type, &rec)) < 0)
        return r;
    if ((r = check_value_type(p, at, type, rec, promoted)) < 0)
        return r;
    if (out->nargs == GORT_SIG_MAX_ARGS)
        return perr(p, at, "too many parameters (at most %d)", GORT_SIG_MAX_ARGS);
    out->args[out->nargs++] = type;
    return 0;
}

/* '(' already consumed: params ')' */
static int parse_params(parser *p, parsed *out)
{
    if (take(p, ')'))
        return 0; /* "()": no parameters, as in C23 and cffi */
    /* "(void)" */
    size_t save = p->pos;
    size_t n = ident_len(p);
    if (word_is(p->s + p->pos, n, "void")) {
        p->pos += n;
        if (take(p, ')'))
            return 0;
        p->pos = save;
    }
    for (;;) {
        skip_space(p);
        if (p->s[p->pos] == '.' ) {
            size_t at = p->pos;
            if (strncmp(p->s + p->pos, "...", 3) != 0)
                return expected(p, "'...'");
            if (out->nargs == 0)
                return perr(p, at, "'...' needs at least one fixed parameter before it");
            p->pos += 3;
            out->variadic = true;
            if (!take(p, ')'))
                return perr(p, p->pos, "'...' must be the last parameter");
            return 0;
        }
        int r = parse_param(p, out, false);
        if (r < 0)
            return r;
        if (take(p, ')'))
            return 0;
        if (!take(p, ','))
            return expected(p, "',' or ')'");
    }
}

static int parse_decl(parser *p, parsed *out)
{
    if (peek(p) == '\0')
        return perr(p, p->pos, "empty declaration");
    uint8_t ret;
    bool rec;
    size_t at;
    int r = parse_type(p, &ret, &rec, &at);
    if (r < 0)
        return r;
    if (rec)
        return perr(p, at, "structs and unions by value are not supported (return a pointer)");
    out->ret = ret;
    size_t n = ident_len(p);
    if (n) {
        out->name = p->s + p->pos;
        out->name_len = n;
        p->pos += n;
    }
    if (!take(p, '('))
        return expected(p, n ? "'(' after the function name" : "a function name or '('");
    if ((r = parse_params(p, out)) < 0)
        return r;
    take(p, ';');
    if (peek(p) != '\0')
        return expected(p, "the end of the declaration");
    return 0;
}

/* "int, double, const char *" (possibly empty), appended to out. */
static int parse_var_types(parser *p, parsed *out)
{
    if (peek(p) == '\0')
        return 0;
    for (;;) {
        int r = parse_param(p, out, true);
        if (r < 0)
            return r;
        if (peek(p) == '\0')
            return 0;
        if (!take(p, ','))
            return expected(p, "',' or the end of the list");
    }
}

/* ---- signatures ------------------------------------------------------------ */

struct gort_sig {
    _Atomic size_t refs;   /* 1 for the owner + 1 per running job */
    _Atomic bool   long_calls; /* the last async call took >= LONG_CALL_NS (a hint) */
    ffi_cif        cif;    /* prepared once; read-only afterwards */
    size_t         nargs;  /* arguments a call passes (fixed + variadic) */
    size_t         nfixed; /* the fixed ones */
    bool           variadic; /* declared with "..." */
    uint8_t        ret;    /* GORT_T_* of the result */
    uint8_t       *args;   /* GORT_T_* per argument (nargs, in this block) */
    ffi_type     **atypes; /* libffi type per argument (nargs, in this block) */
    char           name[]; /* NUL-terminated function name ("" if none) */
};

static ffi_type *ffi_of(uint8_t t)
{
    switch (t) {
    case GORT_T_VOID:
        return &ffi_type_void;
    case GORT_T_BOOL:
    case GORT_T_UINT8:
        return &ffi_type_uint8;
    case GORT_T_INT8:
        return &ffi_type_sint8;
    case GORT_T_INT16:
        return &ffi_type_sint16;
    case GORT_T_UINT16:
        return &ffi_type_uint16;
    case GORT_T_INT32:
        return &ffi_type_sint32;
    case GORT_T_UINT32:
        return &ffi_type_uint32;
    case GORT_T_INT64:
        return &ffi_type_sint64;
    case GORT_T_UINT64:
        return &ffi_type_uint64;
    case GORT_T_FLOAT:
        return &ffi_type_float;
    case GORT_T_DOUBLE:
        return &ffi_type_double;
    default:
        return &ffi_type_pointer;
    }
}

/* Build and prepare a signature from a parse (nfixed < nargs only if
 * variadic). */
static int sig_build(gort_sig **out, const parsed *ps, size_t nfixed, const char *name,
                     size_t name_len)
{
    size_t n = ps->nargs;
    size_t size = sizeof(gort_sig) + name_len + 1;
    size = (size + _Alignof(ffi_type *) - 1) & ~(_Alignof(ffi_type *) - 1);
    size_t atypes_off = size;
    size += n * sizeof(ffi_type *);
    size_t args_off = size;
    size += n;
    gort_sig *sig = malloc(size);
    if (!sig)
        return GORT_ENOMEM;
    atomic_init(&sig->refs, 1);
    atomic_init(&sig->long_calls, false);
    sig->nargs = n;
    sig->nfixed = nfixed;
    sig->variadic = ps->variadic;
    sig->ret = ps->ret;
    sig->atypes = (ffi_type **)((char *)sig + atypes_off);
    sig->args = (uint8_t *)sig + args_off;
    memcpy(sig->name, name ? name : "", name_len);
    sig->name[name_len] = '\0';
    for (size_t i = 0; i < n; i++) {
        sig->args[i] = ps->args[i];
        sig->atypes[i] = ffi_of(ps->args[i]);
    }
    ffi_status st = ps->variadic
        ? ffi_prep_cif_var(&sig->cif, FFI_DEFAULT_ABI, (unsigned)nfixed, (unsigned)n,
                           ffi_of(ps->ret), sig->atypes)
        : ffi_prep_cif(&sig->cif, FFI_DEFAULT_ABI, (unsigned)n, ffi_of(ps->ret), sig->atypes);
    if (st != FFI_OK) {
        free(sig);
        return GORT_EINVAL;
    }
    *out = sig;
    return 0;
}

GORT_API int gort_sig_parse(gort_sig **out, const char *decl, gort_sig_diag *diag)
{
    if (out)
        *out = NULL;
    parser p = {.s = decl, .pos = 0, .diag = diag};
    if (!out || !decl)
        return perr(&p, 0, "%s is NULL", out ? "the declaration" : "the output pointer");
    parsed ps = {.ret = GORT_T_VOID};
    int r = parse_decl(&p, &ps);
    if (r < 0)
        return r;
    r = sig_build(out, &ps, ps.nargs, ps.name, ps.name_len);
    if (r == GORT_EINVAL)
        return perr(&p, 0, "libffi rejected the signature");
    return r;
}

GORT_API int gort_sig_new(gort_sig **out, const char *decl)
{
    return gort_sig_parse(out, decl, NULL);
}

GORT_API int gort_sig_new_var(gort_sig **out, const gort_sig *base, const char *types,
                              gort_sig_diag *diag)
{
    if (out)
        *out = NULL;
    parser p = {.s = types, .pos = 0, .diag = diag};
    if (!out || !base || !types)
        return perr(&p, 0, "NULL argument");
    if (!base->variadic)
        return perr(&p, 0, "the base signature is not variadic");
    parsed ps = {.ret = base->ret, .variadic = true};
    memcpy(ps.args, base->args, base->nfixed);
    ps.nargs = base->nfixed;
    int r = parse_var_types(&p, &ps);
    if (r < 0)
        return r;
    r = sig_build(out, &ps, base->nfixed, base->name, strlen(base->name));
    if (r == GORT_EINVAL)
        return perr(&p, 0, "libffi rejected the signature");
    return r;
}

static void sig_release(const gort_sig *csig)
{
    gort_sig *sig = (gort_sig *)csig; /* the count is the one mutable field */
    if (atomic_fetch_sub_explicit(&sig->refs, 1, memory_order_acq_rel) == 1)
        free(sig);
}

GORT_API void gort_sig_free(gort_sig *sig)
{
    if (sig)
        sig_release(sig);
}

GORT_API const char *gort_sig_name(const gort_sig *sig)
{
    return sig ? sig->name : "";
}

GORT_API size_t gort_sig_nargs(const gort_sig *sig)
{
    return sig ? sig->nargs : 0;
}

GORT_API size_t gort_sig_nfixed(const gort_sig *sig)
{
    return sig ? sig->nfixed : 0;
}

GORT_API int gort_sig_variadic(const gort_sig *sig)
{
    return sig && sig->variadic;
}

GORT_API int gort_sig_ret(const gort_sig *sig)
{
    return sig ? sig->ret : GORT_EINVAL;
}

GORT_API int gort_sig_arg(const gort_sig *sig, size_t i)
{
    return sig && i < sig->nargs ? sig->args[i] : GORT_EINVAL;
}

/* ---- calls ------------------------------------------------------------------- */

/* Where libffi writes a result: at least a register (ffi_arg) wide. */
typedef union ret_slot {
    ffi_arg  u;   /* integers narrower than a register arrive widened */
    ffi_sarg s;
    uint64_t u64;
    double   d;
    void    *p;
} ret_slot;

/* Narrow libffi's register-wide integer result in place, so that the slot
 * holds exactly a value of the result's C type at offset 0. */
static void narrow_ret(uint8_t type, ret_slot *r)
{
    switch (type) {
    case GORT_T_BOOL:
    case GORT_T_UINT8: {
        uint8_t v = (uint8_t)r->u;
        memcpy(r, &v, sizeof v);
        break;
    }
    case GORT_T_INT8: {
        int8_t v = (int8_t)r->s;
        memcpy(r, &v, sizeof v);
        break;
    }
    case GORT_T_INT16: {
        int16_t v = (int16_t)r->s;
        memcpy(r, &v, sizeof v);
        break;
    }
    case GORT_T_UINT16: {
        uint16_t v = (uint16_t)r->u;
        memcpy(r, &v, sizeof v);
        break;
    }
    case GORT_T_INT32: {
        int32_t v = (int32_t)r->s;
        memcpy(r, &v, sizeof v);
        break;
    }
    case GORT_T_UINT32: {
        uint32_t v = (uint32_t)r->u;
        memcpy(r, &v, sizeof v);
        break;
    }
    default:
        break; /* 8-byte integers, pointers, float, double: already exact */
    }
}

static int check_call(const gort_sig *sig, void (*fn)(void), void *const *args)
{
    if (!sig || !fn || (sig->nargs && !args))
        return GORT_EINVAL;
    for (size_t i = 0; i < sig->nargs; i++)
        if (!args[i])
            return GORT_EINVAL;
    return 0;
}

/* The call itself, into a result slot (narrowed). */
static void invoke(const gort_sig *sig, void (*fn)(void), void *const *args, ret_slot *r)
{
    ffi_call((ffi_cif *)&sig->cif, fn, r, (void **)args);
    narrow_ret(sig->ret, r);
}

GORT_API int gort_call(const gort_sig *sig, void (*fn)(void), void *const *args, void *ret)
{
    int err = check_call(sig, fn, args);
    if (err)
        return err;
    ret_slot r;
    invoke(sig, fn, args, &r);
    if (ret)
        memcpy(ret, &r, gort_type_size(sig->ret));
    return 0;
}

/* One asynchronous call: a single allocation (see the top of the file). */
typedef struct job {
    ret_slot          ret;  /* first: the promise's value points here */
    const gort_sig   *sig;  /* one reference held until the call returned */
    void            (*fn)(void);
    gort_promise     *p;    /* one reference held by the goroutine; NULL: fire and forget */
    void            **avalue; /* nargs pointers into vals */
    uint64_t          vals[]; /* one 8-byte slot per argument (copied values) */
} job;

/* ---- long calls yield to woken threads ----------------------------------
 * A pool thread that computes inside a long call holds a CPU for as long as
 * the call runs; the kernel (EEVDF) lets it finish its slice (1.4 ms on 2
 * CPUs) before a thread that wakes on the same CPU runs, so on a machine
 * whose CPUs all compute, a binding's event-loop thread waking for a timer
 * or a settled call waited for that slice: Node's event-loop delay p99
 * 2.5-3.4 ms (measured) while crc32 ran on both CPUs. A call of a function
 * whose previous call took LONG_CALL_NS or more therefore runs with a
 * LONG_CALL_SLICE_NS scheduler slice (sched_setattr's sched_runtime, a
 * fair-class parameter since Linux 6.12): a thread that wakes with the
 * default, shorter slice preempts it at once (the kernel's PREEMPT_SHORT),
 * and CPU shares are unchanged (same class, same nice). The thread's own
 * values are restored when the call returns, before it runs anything else
 * (policy and nice as read before; the slice back to the default): so
 * short calls pay nothing but two clock reads, a long one three system
 * calls (~5 us measured, < 1% of 1 ms). The prediction is per signature
 * (a relaxed flag: a hint, races only misjudge one call); the first call of a
 * function is never treated as long. Only threads in SCHED_OTHER or
 * SCHED_BATCH are touched. A kernel that ignores the slice (before 6.12:
 * the value read back differs) or refuses the call turns it off for the
 * process.
 * Measured and rejected: SCHED_IDLE for the call (the same lag, but such a
 * thread also loses its CPU share to every other process, and an
 * unprivileged thread cannot return from it); nice +5 / +19 (nice +5 did
 * not fix the lag; a raised nice cannot be lowered again unprivileged).
 * SCHED_BATCH for the call gave about the same lag; the slice is the
 * smaller change (same class, same weight: only when the thread yields). */
#define LONG_CALL_NS       (200 * GORT_MICROSECOND)
#define LONG_CALL_SLICE_NS (10 * GORT_MILLISECOND)

/* struct sched_attr of <linux/sched/types.h> (SCHED_ATTR_SIZE_VER0 part). */
typedef struct slice_attr {
    uint32_t size;
    uint32_t sched_policy;
    uint64_t sched_flags;
    int32_t  sched_nice;
    uint32_t sched_priority;
    uint64_t sched_runtime; /* fair classes: the slice (ns); 0 = the default */
    uint64_t sched_deadline;
    uint64_t sched_period;
} slice_attr;

/* Of the flags sched_getattr reports, the one to hand back (the others
 * would ask for utilization clamping changes). */
#define SLICE_KEEP_FLAGS 0x01 /* SCHED_FLAG_RESET_ON_FORK */

/* Whether the kernel takes the slice: 0 not known yet, 1 it does, -1 it
 * ignores or refuses it (then nothing is tried again). */
static _Atomic int long_slice_works;

/* Give this thread the long slice; false (nothing changed) if it cannot. */
static bool long_slice_begin(slice_attr *saved)
{
    int works = atomic_load_explicit(&long_slice_works, memory_order_relaxed);
    if (works < 0)
        return false;
    memset(saved, 0, sizeof *saved);
    if (syscall(SYS_sched_getattr, 0, saved, sizeof *saved, 0) != 0) {
        if (errno == ENOSYS || errno == EPERM)
            atomic_store_explicit(&long_slice_works, -1, memory_order_relaxed);
        return false;
    }
    if (saved->sched_policy != SCHED_OTHER && saved->sched_policy != SCHED_BATCH)
        return false;
    slice_attr a = *saved;
    a.size = sizeof a;
    a.sched_flags &= SLICE_KEEP_FLAGS;
    a.sched_runtime = LONG_CALL_SLICE_NS;
    if (syscall(SYS_sched_setattr, 0, &a, 0) != 0) {
        atomic_store_explicit(&long_slice_works, -1, memory_order_relaxed);
        return false;
    }
    if (works == 0) { /* read back once: before 6.12 the value is ignored */
        slice_attr now = {0};
        bool took = syscall(SYS_sched_getattr, 0, &now, sizeof now, 0) == 0 &&
                    now.sched_runtime == LONG_CALL_SLICE_NS;
        atomic_store_explicit(&long_slice_works, took ? 1 : -1, memory_order_relaxed);
    }
    return true;
}

static void long_slice_end(const slice_attr *saved)
{
    slice_attr a = *saved;
    a.size = sizeof a;
    a.sched_flags &= SLICE_KEEP_FLAGS;
    a.sched_runtime = 0;
    (void)syscall(SYS_sched_setattr, 0, &a, 0);
}

static void job_call(void *arg)
{
    job *j = arg;
    gort_sig *sig = (gort_sig *)j->sig; /* `long_calls` is a hint, written by any caller */
    slice_attr saved;
    bool sliced = atomic_load_explicit(&sig->long_calls, memory_order_relaxed) &&
                  long_slice_begin(&saved);
    int64_t t0 = gort_now();
    invoke(j->sig, j->fn, j->avalue, &j->ret);
    bool was_long = gort_now() - t0 >= LONG_CALL_NS;
    if (was_long != atomic_load_explicit(&sig->long_calls, memory_order_relaxed))
        atomic_store_explicit(&sig->long_calls, was_long, memory_order_relaxed);
    if (sliced)
        long_slice_end(&saved);
}

static void job_entry(void *arg)
{
    job *j = arg;
    gort_blocking(job_call, j); /* cannot fail: a fresh goroutine is not in a syscall */
    const gort_sig *sig = j->sig;
    gort_promise *p = j->p;
    bool has_value = sig->ret != GORT_T_VOID;
    sig_release(sig);
    if (!p)
        free(j);
    else if (has_value)
        gort_promise_resolve(p, j, free); /* j == &j->ret: the value is the result copy */
    else {
        free(j);
        gort_promise_resolve(p, NULL, NULL);
    }
    gort_promise_release(p);
}

/* Copy the arguments, start the goroutine. */
static int spawn_call(const gort_sig *sig, void (*fn)(void), void *const *args, gort_promise *p)
{
    int err = check_call(sig, fn, args);
    if (err)
        return err;
    size_t n = sig->nargs;
    job *j = malloc(sizeof(job) + n * (sizeof(uint64_t) + sizeof(void *)));
    if (!j)
        return GORT_ENOMEM;
    j->avalue = (void **)&j->vals[n];
    for (size_t i = 0; i < n; i++) {
        memcpy(&j->vals[i], args[i], gort_type_size(sig->args[i]));
        j->avalue[i] = &j->vals[i];
    }
    j->fn = fn;
    j->p = p;
    j->sig = sig;
    atomic_fetch_add_explicit(&((gort_sig *)sig)->refs, 1, memory_order_relaxed);
    if (p)
        gort_promise_retain(p);
    err = gort_go(job_entry, j);
    if (err) {
        sig_release(sig);
        gort_promise_release(p);
        free(j);
    }
    return err;
}

GORT_API gort_promise *gort_call_async(const gort_sig *sig, void (*fn)(void), void *const *args)
{
    if (check_call(sig, fn, args))
        return NULL;
    gort_promise *p = gort_promise_new();
    if (!p)
        return NULL;
    if (spawn_call(sig, fn, args, p)) {
        gort_promise_release(p);
        return NULL;
    }
    return p;
}

GORT_API int gort_go_call(const gort_sig *sig, void (*fn)(void), void *const *args)
{
    return spawn_call(sig, fn, args, NULL);
}

#else /* !GORT_HAVE_FFI: built without libffi (GORT_WITH_FFI=OFF) */

/* No signature can exist, so the introspection calls only see NULL. */

GORT_API int gort_sig_parse(gort_sig **out, const char *decl, gort_sig_diag *diag)
{
    (void)decl;
    if (out)
        *out = NULL;
    if (diag) {
        diag->pos = 0;
        snprintf(diag->msg, sizeof diag->msg, "gort was built without libffi (GORT_WITH_FFI=OFF)");
    }
    return GORT_ENOSYS;
}

GORT_API int gort_sig_new(gort_sig **out, const char *decl)
{
    return gort_sig_parse(out, decl, NULL);
}

GORT_API int gort_sig_new_var(gort_sig **out, const gort_sig *base, const char *types,
                              gort_sig_diag *diag)
{
    (void)base;
    return gort_sig_parse(out, types, diag);
}

GORT_API void gort_sig_free(gort_sig *sig)
{
    (void)sig;
}

GORT_API const char *gort_sig_name(const gort_sig *sig)
{
    (void)sig;
    return "";
}

GORT_API size_t gort_sig_nargs(const gort_sig *sig)
{
    (void)sig;
    return 0;
}

GORT_API size_t gort_sig_nfixed(const gort_sig *sig)
{
    (void)sig;
    return 0;
}

GORT_API int gort_sig_variadic(const gort_sig *sig)
{
    (void)sig;
    return 0;
}

GORT_API int gort_sig_ret(const gort_sig *sig)
{
    (void)sig;
    return GORT_EINVAL;
}

GORT_API int gort_sig_arg(const gort_sig *sig, size_t i)
{
    (void)sig;
    (void)i;
    return GORT_EINVAL;
}

GORT_API int gort_call(const gort_sig *sig, void (*fn)(void), void *const *args, void *ret)
{
    (void)sig, (void)fn, (void)args, (void)ret;
    return GORT_ENOSYS;
}

GORT_API gort_promise *gort_call_async(const gort_sig *sig, void (*fn)(void), void *const *args)
{
    (void)sig, (void)fn, (void)args;
    return NULL;
}

GORT_API int gort_go_call(const gort_sig *sig, void (*fn)(void), void *const *args)
{
    (void)sig, (void)fn, (void)args;
    return GORT_ENOSYS;
}

#endif /* GORT_HAVE_FFI */
