/* Test-only LD_PRELOAD shim for pcaps/record.py: time() returns the real
 * time plus a number of seconds read from the file named by
 * MQTTLENS_CLOCK_SHIFT_FILE (missing or empty file: no shift).
 *
 * mosquitto 2.0 expires sessions on time(NULL) and accepts
 * persistent_client_expiration only in hours or longer; with this shim the
 * recording script moves the broker's wall clock forward by two hours, so a
 * session expires in a second of real time.  Keep-alive and timeouts use
 * the monotonic clock, which is left alone. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <sys/time.h>
#include <time.h>

static long shift_seconds(void)
{
    const char *path = getenv("MQTTLENS_CLOCK_SHIFT_FILE");
    long shift = 0;
    if (!path)
        return 0;
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    if (fscanf(f, "%ld", &shift) != 1)
        shift = 0;
    fclose(f);
    return shift;
}

time_t time(time_t *out)
{
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    time_t t = now.tv_sec + shift_seconds();
    if (out)
        *out = t;
    return t;
}
