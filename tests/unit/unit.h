/* unit.h — a minimal test harness for the mqttlens unit tests.
 *
 * TEST(name) defines a test; CHECK(cond) and CHECK_EQ(a, b) record a
 * failure and keep going; main() comes from UNIT_MAIN(list of tests).
 */
#ifndef MQTTLENS_UNIT_H
#define MQTTLENS_UNIT_H

#include <stdio.h>
#include <string.h>

#include <wsutil/wmem/wmem.h>

static int unit_failures;
static int unit_checks;
static wmem_allocator_t *unit_pool;

#define CHECK(cond)                                                                       \
    do {                                                                                  \
        unit_checks++;                                                                    \
        if (!(cond)) {                                                                    \
            unit_failures++;                                                              \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);      \
        }                                                                                 \
    } while (0)

#define CHECK_EQ(a, b)                                                                    \
    do {                                                                                  \
        long long unit_a_ = (long long)(a), unit_b_ = (long long)(b);                     \
        unit_checks++;                                                                    \
        if (unit_a_ != unit_b_) {                                                         \
            unit_failures++;                                                              \
            fprintf(stderr, "%s:%d: CHECK_EQ failed: %s == %lld, expected %s == %lld\n",  \
                    __FILE__, __LINE__, #a, unit_a_, #b, unit_b_);                        \
        }                                                                                 \
    } while (0)

#define CHECK_STR(a, b)                                                                   \
    do {                                                                                  \
        const char *unit_a_ = (a), *unit_b_ = (b);                                        \
        unit_checks++;                                                                    \
        if (!unit_a_ || !unit_b_ || strcmp(unit_a_, unit_b_) != 0) {                      \
            unit_failures++;                                                              \
            fprintf(stderr, "%s:%d: CHECK_STR failed: %s == \"%s\", expected \"%s\"\n",   \
                    __FILE__, __LINE__, #a, unit_a_ ? unit_a_ : "(null)",                 \
                    unit_b_ ? unit_b_ : "(null)");                                        \
        }                                                                                 \
    } while (0)

#define TEST(name) static void name(void)

typedef void (*unit_fn)(void);

static inline int unit_run(const char *suite, const unit_fn *tests, const char *const *names, int n)
{
    /* As in Wireshark: wmem_init() seeds the maps' hashing (unseeded, every
     * key of a wmem_map lands in one bucket). */
    wmem_init();
    unit_pool = wmem_allocator_new(WMEM_ALLOCATOR_SIMPLE);
    for (int i = 0; i < n; i++) {
        int before = unit_failures;
        tests[i]();
        wmem_free_all(unit_pool);
        printf("%s %s/%s\n", unit_failures == before ? "ok  " : "FAIL", suite, names[i]);
    }
    wmem_destroy_allocator(unit_pool);
    wmem_cleanup();
    printf("%s: %d checks, %d failed\n", suite, unit_checks, unit_failures);
    return unit_failures ? 1 : 0;
}

#define UNIT_MAIN(suite, ...)                                                             \
    int main(void)                                                                        \
    {                                                                                     \
        static const unit_fn tests[] = {__VA_ARGS__};                                     \
        static const char names_[] = #__VA_ARGS__;                                        \
        const char *names[sizeof tests / sizeof tests[0]];                                \
        static char buf[sizeof names_];                                                   \
        memcpy(buf, names_, sizeof names_);                                               \
        char *save = NULL;                                                                \
        int i = 0;                                                                        \
        for (char *t = strtok_r(buf, ", ", &save); t && i < (int)(sizeof names / sizeof names[0]); \
             t = strtok_r(NULL, ", ", &save))                                             \
            names[i++] = t;                                                               \
        return unit_run(suite, tests, names, (int)(sizeof tests / sizeof tests[0]));      \
    }

#endif
