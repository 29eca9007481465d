// rtpsink: the cheap engine of the media load bots (loadtest/media/bots.ts,
// `engine: 'native'`). UDP sockets on 127.0.0.1 drained with recvmmsg, kernel
// receive timestamps (SO_TIMESTAMPNS), and per (port, SSRC) RTP statistics
// computed exactly as loadtest/media/rtpStats.ts does (RFC 3550: extended
// sequence numbers, expected vs received, late packets, restarts, jitter).
// Node's dgram costs ~5-10 µs per datagram; this costs well under 1 µs, so on
// a small machine the bots do not steal the CPU the SFU is being measured with.
//
// Protocol: one command per line on stdin, one JSON line per command on stdout.
//   open N RCVBUF           -> {"ports":[...]}
//   expect P:S:C,P:S:C,...  -> {} (port, ssrc, clock rate; unannounced SSRCs then only count as unknown)
//   snapshot                -> {"streams":[...],"counters":{...}}
//   reset                   -> {} (closes every socket, forgets every stream)
//   quit
// Build: cc -O2 -o rtpsink rtpsink.c   (bots.ts does it and caches the binary)
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_DROPOUT 3000
#define MAX_MISORDER 100
#define BATCH 64

typedef struct {
  uint64_t key; /* port << 32 | ssrc; 0 = empty slot */
  uint32_t ssrc, port, clock_rate;
  uint64_t received, bytes, late, restarts, expected_before;
  int64_t base_seq; /* -1 before the first packet */
  uint32_t max_seq, cycles, last_ts;
  double last_arrival_units, jitter_units, first_ms, last_ms;
} stream_t;

static stream_t *table;
static size_t table_cap, table_len;
static int strict;
static uint64_t c_rtcp, c_unknown, c_malformed;
static int *socks;
static uint32_t *sock_ports;
static size_t nsocks, cap_socks;
static int ep;

static uint64_t hash64(uint64_t x) {
  x ^= x >> 33; x *= 0xff51afd7ed558ccdULL; x ^= x >> 33; x *= 0xc4ceb9fe1a85ec53ULL; x ^= x >> 33;
  return x;
}

static stream_t *lookup(uint64_t key, int create) {
  if (create && (table_len + 1) * 2 > table_cap) {
    size_t ncap = table_cap ? table_cap * 2 : 1024;
    stream_t *nt = calloc(ncap, sizeof *nt);
    for (size_t i = 0; i < table_cap; i++) {
      if (!table[i].key) continue;
      size_t j = hash64(table[i].key) & (ncap - 1);
      while (nt[j].key) j = (j + 1) & (ncap - 1);
      nt[j] = table[i];
    }
    free(table);
    table = nt;
    table_cap = ncap;
  }
  if (!table_cap) return NULL;
  size_t j = hash64(key) & (table_cap - 1);
  while (table[j].key) {
    if (table[j].key == key) return &table[j];
    j = (j + 1) & (table_cap - 1);
  }
  if (!create) return NULL;
  table_len++;
  memset(&table[j], 0, sizeof table[j]);
  table[j].key = key;
  table[j].base_seq = -1;
  table[j].first_ms = table[j].last_ms = -1;
  return &table[j];
}

static stream_t *announce(uint32_t port, uint32_t ssrc, uint32_t clock_rate) {
  stream_t *s = lookup(((uint64_t)port << 32) | ssrc, 1);
  if (!s->clock_rate) { s->port = port; s->ssrc = ssrc; s->clock_rate = clock_rate ? clock_rate : 90000; }
  return s;
}

static void on_packet(stream_t *s, uint32_t seq, uint32_t ts, size_t len, double now_ms) {
  double units = now_ms * (s->clock_rate / 1000.0);
  s->received++;
  s->bytes += len;
  if (s->base_seq < 0) {
    s->base_seq = seq; s->max_seq = seq; s->first_ms = now_ms;
  } else {
    uint32_t delta = (seq - s->max_seq) & 0xffff;
    if (delta == 0) {
    } else if (delta < MAX_DROPOUT) {
      if (seq < s->max_seq) s->cycles += 0x10000;
      s->max_seq = seq;
    } else if (0x10000 - delta <= MAX_MISORDER) {
      s->late++;
    } else {
      s->expected_before += (uint64_t)s->cycles + s->max_seq - (uint64_t)s->base_seq + 1;
      s->base_seq = seq; s->max_seq = seq; s->cycles = 0; s->restarts++;
    }
    double d = units - s->last_arrival_units - (double)(int32_t)(ts - s->last_ts);
    s->jitter_units += ((d < 0 ? -d : d) - s->jitter_units) / 16.0;
  }
  s->last_ts = ts;
  s->last_arrival_units = units;
  s->last_ms = now_ms;
}

static void drain(int fd, uint32_t port) {
  static unsigned char bufs[BATCH][1600];
  static char ctrl[BATCH][CMSG_SPACE(sizeof(struct timespec)) + 64];
  struct mmsghdr msgs[BATCH];
  struct iovec iov[BATCH];
  for (;;) {
    for (int i = 0; i < BATCH; i++) {
      iov[i].iov_base = bufs[i];
      iov[i].iov_len = sizeof bufs[i];
      memset(&msgs[i].msg_hdr, 0, sizeof msgs[i].msg_hdr);
      msgs[i].msg_hdr.msg_iov = &iov[i];
      msgs[i].msg_hdr.msg_iovlen = 1;
      msgs[i].msg_hdr.msg_control = ctrl[i];
      msgs[i].msg_hdr.msg_controllen = sizeof ctrl[i];
    }
    int n = recvmmsg(fd, msgs, BATCH, MSG_DONTWAIT, NULL);
    if (n <= 0) return;
    /* Kernel timestamps are CLOCK_REALTIME; snapshots speak CLOCK_MONOTONIC ms. */
    struct timespec r, m;
    clock_gettime(CLOCK_REALTIME, &r);
    clock_gettime(CLOCK_MONOTONIC, &m);
    double off = (m.tv_sec - r.tv_sec) * 1e3 + (m.tv_nsec - r.tv_nsec) / 1e6;
    double fallback = m.tv_sec * 1e3 + m.tv_nsec / 1e6;
    for (int i = 0; i < n; i++) {
      unsigned char *p = bufs[i];
      size_t len = msgs[i].msg_len;
      if (len < 12 || (p[0] >> 6) != 2) { c_malformed++; continue; }
      if (p[1] >= 192 && p[1] <= 223) { c_rtcp++; continue; }
      uint32_t ssrc = (uint32_t)p[8] << 24 | (uint32_t)p[9] << 16 | (uint32_t)p[10] << 8 | p[11];
      stream_t *s = lookup(((uint64_t)port << 32) | ssrc, 0);
      if (!s) {
        if (strict) { c_unknown++; continue; }
        s = announce(port, ssrc, 90000);
      }
      double at = fallback;
      for (struct cmsghdr *c = CMSG_FIRSTHDR(&msgs[i].msg_hdr); c; c = CMSG_NXTHDR(&msgs[i].msg_hdr, c)) {
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_TIMESTAMPNS) {
          struct timespec t;
          memcpy(&t, CMSG_DATA(c), sizeof t);
          at = t.tv_sec * 1e3 + t.tv_nsec / 1e6 + off;
        }
      }
      on_packet(s, (uint32_t)p[2] << 8 | p[3], (uint32_t)p[4] << 24 | (uint32_t)p[5] << 16 | (uint32_t)p[6] << 8 | p[7], len, at);
    }
    if (n < BATCH) return;
  }
}

// ---- commands --------------------------------------------------------------------------

static void open_sockets(long n, int rcvbuf) {
  printf("{\"ports\":[");
  for (long i = 0; i < n; i++) {
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) { perror("socket"); exit(1); }
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    int on = 1;
    setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &on, sizeof on);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = 0, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    if (bind(fd, (struct sockaddr *)&a, sizeof a) < 0) { perror("bind"); exit(1); }
    socklen_t al = sizeof a;
    getsockname(fd, (struct sockaddr *)&a, &al);
    if (nsocks == cap_socks) {
      cap_socks = cap_socks ? cap_socks * 2 : 256;
      socks = realloc(socks, cap_socks * sizeof *socks);
      sock_ports = realloc(sock_ports, cap_socks * sizeof *sock_ports);
    }
    socks[nsocks] = fd;
    sock_ports[nsocks] = ntohs(a.sin_port);
    struct epoll_event ev = { .events = EPOLLIN, .data.u64 = nsocks + 1 };
    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
    printf("%s%u", i ? "," : "", sock_ports[nsocks]);
    nsocks++;
  }
  printf("]}\n");
}

static void snapshot(void) {
  printf("{\"streams\":[");
  int first = 1;
  for (size_t i = 0; i < table_cap; i++) {
    stream_t *s = &table[i];
    if (!s->key) continue;
    uint64_t expected = s->base_seq < 0 ? 0 : s->expected_before + s->cycles + s->max_seq - (uint64_t)s->base_seq + 1;
    uint64_t lost = expected > s->received ? expected - s->received : 0;
    printf("%s{\"key\":\"%u:%u\",\"ssrc\":%u,\"port\":%u,\"clockRate\":%u,\"received\":%llu,\"expected\":%llu,\"lost\":%llu,\"late\":%llu,"
           "\"restarts\":%llu,\"bytes\":%llu,\"jitterMs\":%.4f,\"firstMs\":%.3f,\"lastMs\":%.3f}",
           first ? "" : ",", s->port, s->ssrc, s->ssrc, s->port, s->clock_rate, (unsigned long long)s->received, (unsigned long long)expected,
           (unsigned long long)lost, (unsigned long long)s->late, (unsigned long long)s->restarts, (unsigned long long)s->bytes,
           s->jitter_units / (s->clock_rate / 1000.0), s->first_ms, s->last_ms);
    first = 0;
  }
  printf("],\"counters\":{\"rtcp\":%llu,\"unknown\":%llu,\"malformed\":%llu}}\n", (unsigned long long)c_rtcp, (unsigned long long)c_unknown,
         (unsigned long long)c_malformed);
}

static void reset(void) {
  for (size_t i = 0; i < nsocks; i++) close(socks[i]);
  nsocks = 0;
  free(table);
  table = NULL;
  table_cap = table_len = 0;
  strict = 0;
  c_rtcp = c_unknown = c_malformed = 0;
}

static void command(char *line) {
  line[strcspn(line, "\r\n")] = 0;
  if (!strncmp(line, "open ", 5)) {
    long n = 0;
    int rcvbuf = 1 << 20;
    sscanf(line + 5, "%ld %d", &n, &rcvbuf);
    open_sockets(n, rcvbuf);
  } else if (!strncmp(line, "expect ", 7)) {
    strict = 1;
    for (char *tok = strtok(line + 7, ","); tok; tok = strtok(NULL, ",")) {
      unsigned port, ssrc, clock;
      if (sscanf(tok, "%u:%u:%u", &port, &ssrc, &clock) == 3) announce(port, ssrc, clock);
    }
    printf("{}\n");
  } else if (!strcmp(line, "snapshot")) {
    snapshot();
  } else if (!strcmp(line, "reset")) {
    reset();
    printf("{}\n");
  } else if (!strcmp(line, "quit")) {
    exit(0);
  } else {
    printf("{\"error\":\"unknown command\"}\n");
  }
  fflush(stdout);
}

int main(void) {
  ep = epoll_create1(EPOLL_CLOEXEC);
  fcntl(0, F_SETFL, fcntl(0, F_GETFL) | O_NONBLOCK);
  struct epoll_event in = { .events = EPOLLIN, .data.u64 = 0 };
  epoll_ctl(ep, EPOLL_CTL_ADD, 0, &in);
  size_t cap = 1 << 16, len = 0;
  char *buf = malloc(cap);
  struct epoll_event evs[256];
  for (;;) {
    int n = epoll_wait(ep, evs, 256, -1);
    if (n < 0 && errno == EINTR) continue;
    for (int i = 0; i < n; i++) {
      uint64_t id = evs[i].data.u64;
      if (id == 0) {
        for (;;) {
          if (len + 4096 > cap) buf = realloc(buf, cap *= 2);
          ssize_t r = read(0, buf + len, cap - len - 1);
          if (r == 0) exit(0); /* the driver went away */
          if (r < 0) break;
          len += (size_t)r;
        }
        char *start = buf, *nl;
        while ((nl = memchr(start, '\n', buf + len - start))) {
          *nl = 0;
          command(start);
          start = nl + 1;
        }
        len -= (size_t)(start - buf);
        memmove(buf, start, len);
      } else if (id - 1 < nsocks) {
        drain(socks[id - 1], sock_ports[id - 1]);
      }
    }
  }
}
