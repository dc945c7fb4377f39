/* The load client's reader of bench/versus.py's listening sockets (fan-out and closed loop): reads
 * the sockets that the Python client opened and handed over, and times each bench message's arrival.
 *
 * Why C: read from Python, a frame costs the client ~10 µs, more than webchat takes to write one
 * (~6 µs), so the p99 at 1,000 sockets measured the client's reading pace for every server alike,
 * and the closed loop saturated the client before the Node server. Here a frame costs the read
 * system call and a few memmem.
 *
 * Usage: fast_reader KIND SLOW_US FD...   (KIND: webchat | socketio; the FDs are inherited)
 * SLOW_US 0 reads as fast as it can (the "fast" reader). SLOW_US > 0 is the "slow" reader of
 * bench/versus.py --reader slow: it spends SLOW_US µs of CPU on every frame it reads (a spin on the
 * clock, as a client's own parsing and handling would), reads at most SLOW_READ bytes per read()
 * and times each frame when its handling ends. At 25 µs that is Node's `ws` client reading 1,000
 * sockets (45-51 % of a core at 20,000 frames/s): the server's writes then outrun it in bursts and
 * its socket buffers fill.
 * stdin:  "mark" lines, each answered at once with "mark RECEIPTS CPU_US" (a window's two ends);
 *         then "end SECONDS EXPECTED": stop once EXPECTED receipts are in, or SECONDS later.
 * stdout: "progress RECEIPTS" lines while reading, the "mark" answers; then one line
 *         "done RECEIPTS FRAMES FRAME_BYTES CLOSED REFUSED CPU_US" (CPU: user + system, all its life),
 *         then one latency (ns, send -> receipt) per line, in arrival order.
 *
 * Server frames are unmasked; a ping is answered with a pong (masked with a zero key, as a client
 * must mask). Compressed (RSV1) or fragmented frames are counted as REFUSED and not read: the
 * Python client uses this reader only when no socket negotiated permessage-deflate.
 * A bench body is "bench <seq> <send time ns>"; for webchat the first inside a message article
 * (its data-preview quotes the body, as a chat-list preview may), for socket.io anywhere in a
 * "42" event frame.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#define READ_SIZE 262144
#define SLOW_READ 4096
#define MAX_EVENTS 1024

typedef struct {
    unsigned char *partial; /* bytes of a frame not complete yet */
    size_t partial_len;
    int open;
} Peer;

static Peer *peers;
static int max_fd;
static int webchat;
static int64_t slow_ns; /* CPU spent per frame read (the slow reader), 0: none */
static int64_t *latencies;
static size_t receipts, capacity, frames, frame_bytes, closed_count, refused;

static int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static long cpu_us(void) {
    struct rusage r;
    getrusage(RUSAGE_SELF, &r);
    return (r.ru_utime.tv_sec + r.ru_stime.tv_sec) * 1000000L + r.ru_utime.tv_usec + r.ru_stime.tv_usec;
}

static void record(int64_t latency) {
    if (receipts == capacity) {
        capacity = capacity ? capacity * 2 : 1 << 20;
        latencies = realloc(latencies, capacity * sizeof *latencies);
        if (!latencies) { perror("realloc"); exit(2); }
    }
    latencies[receipts++] = latency;
}

/* The bench bodies between p and end: "bench <seq> <ns>"; at most `most` of them. */
static void bodies(const unsigned char *p, const unsigned char *end, int64_t now, int most) {
    static const char mark[] = "bench ";
    while (p < end) {
        const unsigned char *hit = memmem(p, end - p, mark, sizeof mark - 1);
        if (!hit) return;
        const unsigned char *q = hit + sizeof mark - 1;
        while (q < end && *q >= '0' && *q <= '9') q++;
        if (q == hit + sizeof mark - 1 || q >= end || *q != ' ') { p = q; continue; }
        int64_t sent = 0;
        const unsigned char *digits = ++q;
        while (q < end && *q >= '0' && *q <= '9') sent = sent * 10 + (*q++ - '0');
        if (q > digits) {
            record(now - sent);
            if (--most == 0) return;
        }
        p = q;
    }
}

/* The slow reader's handling of one frame: SLOW_US of CPU, then the time it was handled. */
static int64_t handle_slowly(int64_t now) {
    struct timespec ts;
    int64_t until = now + slow_ns;
    do {
        clock_gettime(CLOCK_REALTIME, &ts);
        now = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
    } while (now < until);
    return now;
}

static void text(const unsigned char *p, size_t len, int64_t now) {
    const unsigned char *end = p + len;
    if (slow_ns) now = handle_slowly(now_ns());
    frames++;
    frame_bytes += len;
    if (!webchat) {
        if (len >= 2 && p[0] == '4' && p[1] == '2') bodies(p, end, now, -1);
        return;
    }
    static const char open_tag[] = "<article id=\"m-", close_tag[] = "</article>";
    while (p < end) {
        const unsigned char *start = memmem(p, end - p, open_tag, sizeof open_tag - 1);
        if (!start) return;
        const unsigned char *stop = memmem(start, end - start, close_tag, sizeof close_tag - 1);
        if (!stop) return;
        bodies(start, stop, now, 1); /* one message: its body, and its preview (data-preview) quoting it */
        p = stop + sizeof close_tag - 1;
    }
}

static void pong(int fd, const unsigned char *payload, size_t len) {
    unsigned char out[2 + 4 + 125];
    if (len > 125) return;
    out[0] = 0x8A;
    out[1] = 0x80 | (unsigned char)len;
    memset(out + 2, 0, 4); /* zero mask key: the payload goes as it is */
    memcpy(out + 6, payload, len);
    if (write(fd, out, 6 + len) < 0 && errno != EAGAIN) peers[fd].open = 0;
}

/* Handle the whole frames in buf; the number of bytes used. */
static size_t parse(int fd, const unsigned char *buf, size_t len, int64_t now) {
    size_t used = 0;
    while (len - used >= 2) {
        const unsigned char *h = buf + used;
        size_t avail = len - used, pos = 2;
        uint64_t n = h[1] & 0x7F;
        if (n == 126) {
            if (avail < 4) break;
            n = (uint64_t)h[2] << 8 | h[3];
            pos = 4;
        } else if (n == 127) {
            if (avail < 10) break;
            n = 0;
            for (int i = 2; i < 10; i++) n = n << 8 | h[i];
            pos = 10;
        }
        if (avail - pos < n) break;
        int fin = h[0] & 0x80, rsv1 = h[0] & 0x40, opcode = h[0] & 0x0F;
        const unsigned char *payload = h + pos;
        if (opcode == 0x9) {
            pong(fd, payload, n);
        } else if (opcode == 0x8) {
            peers[fd].open = 0;
        } else if (opcode == 0x1 || opcode == 0x0) {
            if (!fin || rsv1 || opcode == 0x0) refused++;
            else text(payload, n, now);
        }
        used += pos + n;
    }
    return used;
}

static void readable(int epfd, int fd, unsigned char *buf) {
    Peer *peer = &peers[fd];
    ssize_t got = read(fd, buf, slow_ns ? SLOW_READ : READ_SIZE);
    if (got < 0 && (errno == EAGAIN || errno == EINTR)) return;
    int64_t now = now_ns();
    if (got > 0) {
        if (peer->partial_len) {
            peer->partial = realloc(peer->partial, peer->partial_len + got);
            memcpy(peer->partial + peer->partial_len, buf, got);
            size_t total = peer->partial_len + got;
            size_t used = parse(fd, peer->partial, total, now);
            memmove(peer->partial, peer->partial + used, total - used);
            peer->partial_len = total - used;
        } else {
            size_t used = parse(fd, buf, got, now);
            if (used < (size_t)got) {
                peer->partial = realloc(peer->partial, got - used);
                memcpy(peer->partial, buf + used, got - used);
                peer->partial_len = got - used;
            }
        }
    }
    if (got <= 0 || !peer->open) {
        peer->open = 0;
        closed_count++;
        epoll_ctl(epfd, EPOLL_CTL_DEL, fd, NULL);
    }
}

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: %s webchat|socketio SLOW_US FD...\n", argv[0]);
        return 2;
    }
    webchat = strcmp(argv[1], "webchat") == 0;
    slow_ns = (int64_t)(atof(argv[2]) * 1000);
    int epfd = epoll_create1(0);
    for (int i = 3; i < argc; i++) {
        int fd = atoi(argv[i]);
        if (fd > max_fd) max_fd = fd;
    }
    peers = calloc(max_fd + 1, sizeof *peers);
    struct epoll_event ev = {.events = EPOLLIN};
    for (int i = 3; i < argc; i++) {
        int fd = atoi(argv[i]);
        peers[fd].open = 1;
        ev.data.fd = fd;
        if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0) { perror("epoll_ctl"); return 2; }
    }
    ev.data.fd = 0; /* stdin: the "end" line */
    epoll_ctl(epfd, EPOLL_CTL_ADD, 0, &ev);
    unsigned char *buf = malloc(READ_SIZE);
    struct epoll_event events[MAX_EVENTS];
    int64_t deadline = 0, next_progress = now_ns();
    size_t expected = 0;
    char line[128];
    size_t line_len = 0;
    for (;;) {
        int ready = epoll_wait(epfd, events, MAX_EVENTS, 50);
        for (int i = 0; i < ready; i++) {
            int fd = events[i].data.fd;
            if (fd != 0) {
                readable(epfd, fd, buf);
                continue;
            }
            ssize_t got = read(0, line + line_len, sizeof line - 1 - line_len);
            if (got <= 0) { deadline = now_ns(); epoll_ctl(epfd, EPOLL_CTL_DEL, 0, NULL); continue; }
            line_len += got;
            line[line_len] = 0;
            char *newline;
            while ((newline = strchr(line, '\n'))) {
                double seconds;
                *newline = 0;
                if (strcmp(line, "mark") == 0) {
                    printf("mark %zu %ld\n", receipts, cpu_us());
                    fflush(stdout);
                } else if (sscanf(line, "end %lf %zu", &seconds, &expected) == 2) {
                    deadline = now_ns() + (int64_t)(seconds * 1e9);
                }
                line_len -= newline + 1 - line;
                memmove(line, newline + 1, line_len + 1);
            }
            if (line_len == sizeof line - 1) line_len = 0; /* a line too long to be ours */
        }
        int64_t now = now_ns();
        if (deadline && (receipts >= expected || now >= deadline)) break;
        if (now >= next_progress) {
            printf("progress %zu\n", receipts);
            fflush(stdout);
            next_progress = now + 500000000;
        }
    }
    printf("done %zu %zu %zu %zu %zu %ld\n", receipts, frames, frame_bytes, closed_count, refused, cpu_us());
    for (size_t i = 0; i < receipts; i++) printf("%lld\n", (long long)latencies[i]);
    return 0;
}
