/*
 * loadgen: a lean TFTP load generator for the benchmarks (the fast path of
 * bench/compare.ts; bench/loadgen.ts is the same client in TypeScript).
 *
 * One thread, one epoll loop, up to --concurrency transfers in flight, each
 * on its own UDP socket. Every received byte is compared with the served
 * file (--verify), so no copy of the data is kept. One JSON line per
 * transfer on stdout, then a summary line.
 *
 * Client behaviour (same as loadgen.ts):
 *  - retransmit interval: the timeout option's value when sent, else
 *    --rexmt-ms (default 1000); give up after --retries (5) without progress.
 *  - RRQ: ACK every windowsize-th block and the final one; on a gap ACK the
 *    last in-order block once; on a duplicate re-ACK it (every time in
 *    lock-step, once per progress in a window).
 *  - WRQ: send a window, move it to the block after the one ACKed (RFC 7440),
 *    resend from the first unACKed block on timeout.
 *  - --loss F drops that fraction of received DATA, seeded per transfer.
 *  - --max-ms M gives up on a transfer M ms after its request (a failure).
 *
 * Small-buffer receiver (--rx-queue K, RRQ only): models a firmware NIC with
 * a small RX ring, or a slow port. DATA enters a queue of K packets in front
 * of a receiver that takes S us to process each (--rx-service-us, default:
 * the packet's time on a --rx-link-mbps (100) Ethernet link, headers,
 * preamble and gap included); a DATA that arrives while K are queued is
 * dropped. Arrival times are the kernel's receive timestamps, so a late
 * wake-up of this process does not look like a burst. The receiver acts on
 * a packet when it has processed it (its ACK leaves then):
 *  - --rx-mode rfc (default), as RFC 7440 says: ACK after windowsize
 *    in-order blocks counted from its last ACK, and the final block; out-of-
 *    order blocks are ignored (--rx-gap-ack: ACK the last in-order block
 *    once per gap instead); on its timeout (--rx-timeout-ms, default 1000)
 *    ACK the last block it got in order and count the window from there.
 *  - --rx-mode uboot, as U-Boot's net/tftp.c (2023.01): ACK when the block
 *    reaches an absolute boundary (windowsize, 2 windowsize, ...); an out-of-
 *    order block ACKs the last in-order block once per position and moves
 *    the boundary to that block + windowsize; the timeout ACKs the last
 *    in-order block without moving the boundary, and only in-order blocks
 *    restart the timer.
 *  --rx-wedge: the first DATA that finds the queue full stops the receiver
 *    for good (every later DATA is dropped; its timer still ACKs), as
 *    U-Boot 2023.01's virtio-net driver does once its 32 buffers are full.
 *
 * Build: cc -O2 -o loadgen loadgen.c
 */
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
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

enum { OP_RRQ = 1, OP_WRQ = 2, OP_DATA = 3, OP_ACK = 4, OP_ERROR = 5, OP_OACK = 6 };

struct config {
  const char *host;
  int port;
  int write;
  const char *name;
  int count;
  int concurrency;
  int blksize;    /* 0: no option */
  int windowsize; /* 0: no option */
  int tsize;
  int timeout; /* 0: no option */
  int rexmt_ms;
  int retries;
  double loss;
  uint32_t seed;
  const char *file; /* the served file (RRQ: verify against; WRQ: upload) */
  int spread;       /* each slot its own client address 127.1.x.y */
  int max_ms;       /* 0: no cap on a transfer's time */
  int rxq;          /* small-buffer receiver: queue of this many packets (0: off) */
  double rx_service_us; /* < 0: wire time at rx_link_mbps */
  double rx_link_mbps;
  int rx_timeout_ms;
  int rx_gap_ack;
  int rx_uboot;
  int rx_wedge;
};

enum { MAX_PENDING = 16 };

struct pending_ack {
  double due;
  unsigned block;
  int final;
};

struct transfer {
  int index;
  int fd;
  int active;
  struct sockaddr_in peer;
  int have_peer;
  int started; /* OACK/first DATA (RRQ) or ACK 0/OACK (WRQ) seen */
  long blksize;
  long windowsize;
  uint64_t expected; /* RRQ: next absolute block */
  long in_window;
  int acked;
  uint64_t total;
  uint64_t base, next, last_block; /* WRQ */
  int retries;
  long retransmits;
  long dropped;
  uint32_t rng;
  double t0, t1, last;
  unsigned char last_sent[600];
  size_t last_len;
  char error[160];
  /* small-buffer receiver */
  double *rxq;        /* finish times of the packets in the queue (ring of cfg.rxq) */
  int rxq_head, rxq_n;
  double rx_busy;     /* when the receiver finishes the last packet it accepted */
  double rx_last;     /* its timer starts here */
  uint64_t next_ack;  /* uboot: absolute boundary */
  uint64_t last_nack; /* uboot: last in-order block ACKed for a gap */
  struct pending_ack pend[MAX_PENDING];
  int npend;
  long queue_dropped;
  long data_rx;       /* DATA datagrams that reached us (before any drop) */
  int closing;        /* the final block is in the queue: ignore the rest */
  int wedged;         /* --rx-wedge: the queue overflowed once */
};

static struct config cfg;
static const unsigned char *src;
static size_t src_size;
static int epfd;
static struct sockaddr_in server;
static unsigned char *txbuf;
static unsigned char rxbuf[65536 + 64];

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* CLOCK_REALTIME - CLOCK_MONOTONIC, to read kernel receive timestamps. */
static double realtime_offset_ms;

static void init_realtime_offset(void) {
  struct timespec rt;
  double mono = now_ms();
  clock_gettime(CLOCK_REALTIME, &rt);
  realtime_offset_ms = rt.tv_sec * 1e3 + rt.tv_nsec / 1e6 - mono;
}

/* mulberry32, as in loadgen.ts */
static double rnd(uint32_t *state) {
  uint32_t t = (*state += 0x6d2b79f5u);
  t = (t ^ (t >> 15)) * (t | 1u);
  t ^= t + (t ^ (t >> 7)) * (t | 61u);
  return ((t ^ (t >> 14)) >> 0) / 4294967296.0;
}

static size_t put_str(unsigned char *p, const char *s) {
  size_t n = strlen(s) + 1;
  memcpy(p, s, n);
  return n;
}

static size_t build_request(struct transfer *t, unsigned char *p) {
  char name[512], num[32];
  size_t n = 2;
  p[0] = 0;
  p[1] = cfg.write ? OP_WRQ : OP_RRQ;
  snprintf(name, sizeof name, cfg.name, t->index);
  n += put_str(p + n, name);
  n += put_str(p + n, "octet");
  if (cfg.blksize) {
    n += put_str(p + n, "blksize");
    snprintf(num, sizeof num, "%d", cfg.blksize);
    n += put_str(p + n, num);
  }
  if (cfg.windowsize) {
    n += put_str(p + n, "windowsize");
    snprintf(num, sizeof num, "%d", cfg.windowsize);
    n += put_str(p + n, num);
  }
  if (cfg.timeout) {
    n += put_str(p + n, "timeout");
    snprintf(num, sizeof num, "%d", cfg.timeout);
    n += put_str(p + n, num);
  }
  if (cfg.tsize) {
    n += put_str(p + n, "tsize");
    snprintf(num, sizeof num, "%zu", cfg.write ? src_size : (size_t)0);
    n += put_str(p + n, num);
  }
  return n;
}

static void send_to(struct transfer *t, const unsigned char *p, size_t n) {
  const struct sockaddr_in *to = t->have_peer ? &t->peer : &server;
  sendto(t->fd, p, n, 0, (const struct sockaddr *)to, sizeof *to);
  t->last = now_ms();
}

static void send_last(struct transfer *t) { send_to(t, t->last_sent, t->last_len); }

static void send_ack(struct transfer *t, uint64_t block) {
  t->last_sent[0] = 0;
  t->last_sent[1] = OP_ACK;
  t->last_sent[2] = (block >> 8) & 0xff;
  t->last_sent[3] = block & 0xff;
  t->last_len = 4;
  send_last(t);
}

static void json_escape(const char *in, char *out, size_t cap) {
  size_t o = 0;
  for (; *in && o + 7 < cap; in++) {
    unsigned char c = (unsigned char)*in;
    if (c == '"' || c == '\\') {
      out[o++] = '\\';
      out[o++] = c;
    } else if (c < 0x20) {
      o += snprintf(out + o, cap - o, "\\u%04x", c);
    } else {
      out[o++] = c;
    }
  }
  out[o] = 0;
}

static int active_count;
static int started_count;

static void finish(struct transfer *t, const char *error) {
  char esc[400];
  if (!t->active) return;
  if (!t->t1) t->t1 = now_ms();
  if (error) snprintf(t->error, sizeof t->error, "%s", error);
  json_escape(t->error, esc, sizeof esc);
  printf("{\"i\":%d,\"ok\":%s,\"bytes\":%llu,\"ms\":%.3f,\"retransmits\":%ld,"
         "\"dropped\":%ld,\"queue_dropped\":%ld,\"data_rx\":%ld,\"blksize\":%ld,"
         "\"windowsize\":%ld,\"error\":\"%s\"}\n",
         t->index, t->error[0] ? "false" : "true", (unsigned long long)t->total,
         t->t1 - t->t0, t->retransmits, t->dropped, t->queue_dropped, t->data_rx,
         t->blksize, t->windowsize, esc);
  epoll_ctl(epfd, EPOLL_CTL_DEL, t->fd, NULL);
  close(t->fd);
  free(t->rxq);
  t->rxq = NULL;
  t->active = 0;
  active_count--;
}

static void wrq_pump(struct transfer *t) {
  while (t->next <= t->last_block && t->next < t->base + (uint64_t)t->windowsize) {
    uint64_t n = t->next++;
    uint64_t off = (n - 1) * (uint64_t)t->blksize;
    size_t len = off >= src_size ? 0 : src_size - off;
    if (len > (size_t)t->blksize) len = t->blksize;
    txbuf[0] = 0;
    txbuf[1] = OP_DATA;
    txbuf[2] = (n >> 8) & 0xff;
    txbuf[3] = n & 0xff;
    memcpy(txbuf + 4, src + off, len);
    send_to(t, txbuf, len + 4);
  }
}

static void start_transfer(struct transfer *t, int slot, int index) {
  memset(t, 0, sizeof *t);
  t->index = index;
  t->blksize = 512;
  t->windowsize = 1;
  t->expected = 1;
  t->base = 1;
  t->next = 1;
  t->rng = cfg.seed + (uint32_t)index * 7919u;
  t->fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
  if (t->fd < 0) {
    perror("socket");
    exit(2);
  }
  int rcv = 1 << 20;
  setsockopt(t->fd, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof rcv);
  if (cfg.rxq) {
    int on = 1;
    setsockopt(t->fd, SOL_SOCKET, SO_TIMESTAMPNS, &on, sizeof on);
    t->rxq = calloc(cfg.rxq, sizeof *t->rxq);
  }
  struct sockaddr_in local = {.sin_family = AF_INET};
  local.sin_addr = server.sin_addr;
  /* Many machines booting: slot s is client 127.1.0.1 + s (all loopback). */
  if (cfg.spread) local.sin_addr.s_addr = htonl(0x7f010001u + (uint32_t)slot);
  if (bind(t->fd, (struct sockaddr *)&local, sizeof local) < 0) {
    perror("bind");
    exit(2);
  }
  struct epoll_event ev = {.events = EPOLLIN, .data.ptr = t};
  epoll_ctl(epfd, EPOLL_CTL_ADD, t->fd, &ev);
  t->active = 1;
  active_count++;
  started_count++;
  t->last_block = src_size / 512 + 1;
  t->t0 = now_ms();
  t->rx_last = t->t0;
  t->last_len = build_request(t, t->last_sent);
  send_last(t);
}

static void parse_oack(struct transfer *t, const unsigned char *p, size_t n) {
  size_t i = 2;
  while (i < n) {
    const char *key = (const char *)p + i;
    size_t kl = strnlen(key, n - i);
    if (i + kl >= n) break;
    const char *val = key + kl + 1;
    size_t vl = strnlen(val, n - i - kl - 1);
    if (i + kl + 1 + vl >= n) break;
    if (!strcasecmp(key, "blksize")) t->blksize = atol(val);
    if (!strcasecmp(key, "windowsize")) t->windowsize = atol(val);
    i += kl + vl + 2;
  }
}

static void on_rrq_packet(struct transfer *t, unsigned char *p, size_t n) {
  int op = n >= 4 && p[0] == 0 ? p[1] : 0;
  if (op == OP_DATA) {
    if (cfg.loss > 0 && rnd(&t->rng) < cfg.loss) {
      t->dropped++;
      return;
    }
    unsigned block = (p[2] << 8) | p[3];
    unsigned want = t->expected & 0xffff;
    if (block == want) {
      size_t len = n - 4;
      uint64_t at = (t->expected - 1) * (uint64_t)t->blksize;
      if (at + len > src_size || memcmp(p + 4, src + at, len) != 0) {
        char msg[96];
        snprintf(msg, sizeof msg, "wrong bytes in block %llu", (unsigned long long)t->expected);
        finish(t, msg);
        return;
      }
      t->total = at + len;
      t->expected++;
      t->retries = 0;
      t->acked = 0;
      t->last = now_ms();
      if ((long)len < t->blksize) {
        t->t1 = now_ms();
        send_ack(t, block);
        finish(t, t->total == src_size ? NULL : "short file");
        return;
      }
      if (++t->in_window >= t->windowsize) {
        t->in_window = 0;
        send_ack(t, block);
      }
    } else {
      unsigned ahead = (block - want) & 0xffff;
      if (ahead < (unsigned)t->windowsize) {
        if (t->acked) return;
      } else if (t->windowsize > 1 && t->acked) {
        return;
      }
      t->acked = 1;
      t->in_window = 0;
      send_ack(t, (t->expected - 1) & 0xffff);
    }
  } else if (op == OP_OACK && t->expected == 1) {
    parse_oack(t, p, n);
    t->retries = 0;
    send_ack(t, 0);
  } else if (op == OP_ERROR) {
    char msg[150];
    snprintf(msg, sizeof msg, "server ERROR %d: %.100s", (p[2] << 8) | p[3], (char *)p + 4);
    finish(t, msg);
  }
}

/*
 * The small-buffer receiver's queue: admits a datagram of `len` bytes (UDP
 * payload) arriving at `at` ms; returns when the receiver will have
 * processed it, or -1 when K packets are queued and it is dropped.
 */
static double rxq_admit(struct transfer *t, double at, size_t len) {
  while (t->rxq_n > 0 && t->rxq[t->rxq_head] <= at) {
    t->rxq_head = (t->rxq_head + 1) % cfg.rxq;
    t->rxq_n--;
  }
  if (t->wedged) return -1;
  if (t->rxq_n >= cfg.rxq) {
    t->wedged = cfg.rx_wedge;
    return -1;
  }
  /* Ethernet: 14 header + 4 FCS + 8 preamble + 12 gap; IPv4 20; UDP 8. */
  double us = cfg.rx_service_us >= 0 ? cfg.rx_service_us
                                     : (len + 8 + 20 + 38) * 8.0 / cfg.rx_link_mbps;
  double done = (t->rx_busy > at ? t->rx_busy : at) + us / 1000.0;
  t->rxq[(t->rxq_head + t->rxq_n) % cfg.rxq] = done;
  t->rxq_n++;
  t->rx_busy = done;
  return done;
}

static void schedule_ack(struct transfer *t, double due, unsigned block, int final) {
  if (t->npend == MAX_PENDING) { /* cannot happen with sane K; keep order */
    send_ack(t, t->pend[0].block);
    memmove(t->pend, t->pend + 1, (MAX_PENDING - 1) * sizeof t->pend[0]);
    t->npend--;
  }
  t->pend[t->npend++] = (struct pending_ack){.due = due, .block = block & 0xffff, .final = final};
}

/* Sends the receiver's ACKs that are due by `now`; may finish the transfer. */
static void send_due(struct transfer *t, double now) {
  while (t->active && t->npend > 0 && t->pend[0].due <= now) {
    struct pending_ack a = t->pend[0];
    memmove(t->pend, t->pend + 1, (t->npend - 1) * sizeof t->pend[0]);
    t->npend--;
    send_ack(t, a.block);
#ifdef TRACE
    fprintf(stderr, "%.3f ACK %u (due %.3f)\n", now - t->t0, a.block, a.due - t->t0);
#endif
    if (a.final) {
      t->t1 = a.due;
      finish(t, t->total == src_size ? NULL : "short file");
    }
  }
}

static void on_rrq_model(struct transfer *t, unsigned char *p, size_t n, double at) {
  int op = n >= 4 && p[0] == 0 ? p[1] : 0;
  if (op != OP_DATA) {
    on_rrq_packet(t, p, n);
    if (op == OP_OACK && t->active) {
      t->next_ack = t->windowsize;
      t->rx_last = now_ms();
    }
    return;
  }
  t->data_rx++;
  if (t->closing) return;
  if (cfg.loss > 0 && rnd(&t->rng) < cfg.loss) {
    t->dropped++;
    return;
  }
  double done = rxq_admit(t, at, n);
#ifdef TRACE
  fprintf(stderr, "%.3f blk %u exp %llu q %d %s\n", at - t->t0, (p[2] << 8) | p[3],
          (unsigned long long)t->expected, t->rxq_n, done < 0 ? "DROP" : "");
#endif
  if (done < 0) {
    t->queue_dropped++;
    t->dropped++;
    return;
  }
  unsigned block = (p[2] << 8) | p[3];
  uint64_t cur = t->expected - 1;
  if (block != (t->expected & 0xffff)) {
    if (cfg.rx_uboot) {
      if (t->last_nack != cur) {
        t->last_nack = cur;
        t->next_ack = cur + t->windowsize;
        schedule_ack(t, done, cur, 0);
      }
    } else if (cfg.rx_gap_ack && !t->acked) {
      t->acked = 1;
      t->in_window = 0;
      t->rx_last = done;
      schedule_ack(t, done, cur, 0);
    }
    return;
  }
  size_t len = n - 4;
  uint64_t off = cur * (uint64_t)t->blksize;
  if (off + len > src_size || memcmp(p + 4, src + off, len) != 0) {
    char msg[96];
    snprintf(msg, sizeof msg, "wrong bytes in block %llu", (unsigned long long)t->expected);
    finish(t, msg);
    return;
  }
  t->total = off + len;
  t->expected++;
  t->retries = 0;
  t->acked = 0;
  t->rx_last = done;
  if ((long)len < t->blksize) {
    t->closing = 1;
    schedule_ack(t, done, block, 1);
  } else if (cfg.rx_uboot) {
    if (cur + 1 == t->next_ack) {
      t->next_ack += t->windowsize;
      schedule_ack(t, done, block, 0);
    }
  } else if (++t->in_window >= t->windowsize) {
    t->in_window = 0;
    schedule_ack(t, done, block, 0);
  }
}

static void on_wrq_packet(struct transfer *t, unsigned char *p, size_t n) {
  int op = n >= 4 && p[0] == 0 ? p[1] : 0;
  if (!t->started && (op == OP_OACK || (op == OP_ACK && p[2] == 0 && p[3] == 0))) {
    t->started = 1;
    if (op == OP_OACK) parse_oack(t, p, n);
    t->last_block = src_size / t->blksize + 1;
    t->retries = 0;
    wrq_pump(t);
  } else if (op == OP_ACK && t->started) {
    unsigned wire = (p[2] << 8) | p[3];
    unsigned delta = (wire - (unsigned)(t->base - 1)) & 0xffff;
    uint64_t block = t->base - 1 + delta;
    if (delta == 0 || block >= t->next) return;
    t->base = block + 1;
    t->retries = 0;
    t->total = block * t->blksize > src_size ? src_size : block * t->blksize;
    if (block >= t->last_block) {
      t->total = src_size;
      t->t1 = now_ms();
      finish(t, NULL);
      return;
    }
    t->next = t->base;
    wrq_pump(t);
  } else if (op == OP_ERROR) {
    char msg[150];
    snprintf(msg, sizeof msg, "server ERROR %d: %.100s", (p[2] << 8) | p[3], (char *)p + 4);
    finish(t, msg);
  }
}

static void on_readable(struct transfer *t) {
  for (;;) {
    struct sockaddr_in from;
    socklen_t fl = sizeof from;
    ssize_t n;
    double at = 0;
    if (cfg.rxq && !cfg.write) {
      char ctl[CMSG_SPACE(sizeof(struct timespec))];
      struct iovec iov = {.iov_base = rxbuf, .iov_len = sizeof rxbuf};
      struct msghdr mh = {.msg_name = &from, .msg_namelen = sizeof from, .msg_iov = &iov,
                          .msg_iovlen = 1, .msg_control = ctl, .msg_controllen = sizeof ctl};
      n = recvmsg(t->fd, &mh, 0);
      if (n < 0) return;
      at = now_ms();
      for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_TIMESTAMPNS) {
          struct timespec ts;
          memcpy(&ts, CMSG_DATA(c), sizeof ts);
          double k = ts.tv_sec * 1e3 + ts.tv_nsec / 1e6 - realtime_offset_ms;
          if (k < at) at = k;
        }
      }
    } else {
      n = recvfrom(t->fd, rxbuf, sizeof rxbuf, 0, (struct sockaddr *)&from, &fl);
      if (n < 0) return;
    }
    if (!t->have_peer) {
      t->peer = from;
      t->have_peer = 1;
    } else if (from.sin_port != t->peer.sin_port) {
      continue;
    }
    if (cfg.write) on_wrq_packet(t, rxbuf, n);
    else if (cfg.rxq) on_rrq_model(t, rxbuf, n, at);
    else on_rrq_packet(t, rxbuf, n);
    if (!t->active) return;
    if (t->npend) send_due(t, now_ms());
    if (!t->active) return;
  }
}

static void on_timer(struct transfer *t, double now) {
  if (cfg.max_ms && now - t->t0 >= cfg.max_ms) {
    char msg[96];
    snprintf(msg, sizeof msg, "capped at %d ms (block %llu)", cfg.max_ms,
             (unsigned long long)(cfg.write ? t->base : t->expected));
    finish(t, msg);
    return;
  }
  if (cfg.rxq && !cfg.write) {
    /* The small-buffer receiver's own timer: ACK the last in-order block. */
    if (t->closing || now - t->rx_last < cfg.rx_timeout_ms) return;
    if (t->retries >= cfg.retries) {
      char msg[96];
      snprintf(msg, sizeof msg, "timed out at block %llu", (unsigned long long)t->expected);
      finish(t, msg);
      return;
    }
    t->retries++;
    t->retransmits++;
    t->rx_last = now;
    t->in_window = 0;
    if (t->have_peer) send_ack(t, (t->expected - 1) & 0xffff);
    else send_last(t);
    return;
  }
  double interval = cfg.timeout ? cfg.timeout * 1000.0 : cfg.rexmt_ms;
  if (now - t->last < interval) return;
  if (t->retries >= cfg.retries) {
    char msg[96];
    snprintf(msg, sizeof msg, "timed out at block %llu",
             (unsigned long long)(cfg.write ? t->base : t->expected));
    finish(t, msg);
    return;
  }
  t->retries++;
  t->retransmits++;
  if (cfg.write && t->started) {
    t->next = t->base;
    wrq_pump(t);
  } else {
    send_last(t);
  }
}

static void usage(void) {
  fprintf(stderr,
          "usage: loadgen --port P --file PATH --name NAME [--host 127.0.0.1] [--write]\n"
          "  [--count N] [--concurrency C] [--blksize B] [--windowsize W] [--tsize]\n"
          "  [--timeout S] [--rexmt-ms MS] [--retries R] [--loss F] [--seed S]\n"
          "  [--spread]  (slot s sends from 127.1.0.1 + s: one address per client)\n"
          "  [--max-ms M] (a transfer still running M ms after its request fails)\n"
          "  small-buffer receiver (RRQ): --rx-queue K [--rx-service-us S]\n"
          "  [--rx-link-mbps 100] [--rx-timeout-ms 1000] [--rx-gap-ack] [--rx-wedge] [--rx-mode rfc|uboot]\n"
          "NAME may contain %%d (the transfer index).\n");
  exit(2);
}

int main(int argc, char **argv) {
  cfg.host = "127.0.0.1";
  cfg.count = 1;
  cfg.concurrency = 1;
  cfg.rexmt_ms = 1000;
  cfg.retries = 5;
  cfg.seed = 1;
  cfg.rx_service_us = -1;
  cfg.rx_link_mbps = 100;
  cfg.rx_timeout_ms = 1000;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(a, "--write")) { cfg.write = 1; continue; }
    if (!strcmp(a, "--tsize")) { cfg.tsize = 1; continue; }
    if (!strcmp(a, "--spread")) { cfg.spread = 1; continue; }
    if (!strcmp(a, "--rx-gap-ack")) { cfg.rx_gap_ack = 1; continue; }
    if (!strcmp(a, "--rx-wedge")) { cfg.rx_wedge = 1; continue; }
    if (!v) usage();
    i++;
    if (!strcmp(a, "--host")) cfg.host = v;
    else if (!strcmp(a, "--port")) cfg.port = atoi(v);
    else if (!strcmp(a, "--name")) cfg.name = v;
    else if (!strcmp(a, "--file")) cfg.file = v;
    else if (!strcmp(a, "--count")) cfg.count = atoi(v);
    else if (!strcmp(a, "--concurrency")) cfg.concurrency = atoi(v);
    else if (!strcmp(a, "--blksize")) cfg.blksize = atoi(v);
    else if (!strcmp(a, "--windowsize")) cfg.windowsize = atoi(v);
    else if (!strcmp(a, "--timeout")) cfg.timeout = atoi(v);
    else if (!strcmp(a, "--rexmt-ms")) cfg.rexmt_ms = atoi(v);
    else if (!strcmp(a, "--retries")) cfg.retries = atoi(v);
    else if (!strcmp(a, "--loss")) cfg.loss = atof(v);
    else if (!strcmp(a, "--seed")) cfg.seed = (uint32_t)strtoul(v, NULL, 10);
    else if (!strcmp(a, "--max-ms")) cfg.max_ms = atoi(v);
    else if (!strcmp(a, "--rx-queue")) cfg.rxq = atoi(v);
    else if (!strcmp(a, "--rx-service-us")) cfg.rx_service_us = atof(v);
    else if (!strcmp(a, "--rx-link-mbps")) cfg.rx_link_mbps = atof(v);
    else if (!strcmp(a, "--rx-timeout-ms")) cfg.rx_timeout_ms = atoi(v);
    else if (!strcmp(a, "--rx-mode")) {
      if (!strcmp(v, "uboot")) cfg.rx_uboot = 1;
      else if (strcmp(v, "rfc")) usage();
    }
    else usage();
  }
  if (!cfg.port || !cfg.name || !cfg.file) usage();
  if (cfg.rxq < 0 || cfg.rx_link_mbps <= 0 || cfg.rx_timeout_ms <= 0) usage();
  if (cfg.rxq) {
    init_realtime_offset();
    /* The receiver's ACKs are due at sub-millisecond times. */
    prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
  }
  int fd = open(cfg.file, O_RDONLY);
  struct stat st;
  if (fd < 0 || fstat(fd, &st) < 0) {
    perror(cfg.file);
    return 2;
  }
  src_size = st.st_size;
  src = src_size ? mmap(NULL, src_size, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0)
                 : (const unsigned char *)"";
  if (src == MAP_FAILED) {
    perror("mmap");
    return 2;
  }
  server.sin_family = AF_INET;
  server.sin_port = htons(cfg.port);
  if (inet_pton(AF_INET, cfg.host, &server.sin_addr) != 1) usage();
  txbuf = malloc(65536 + 64);
  epfd = epoll_create1(0);
  struct transfer *ts = calloc(cfg.concurrency, sizeof *ts);
  struct epoll_event evs[256];
  double wall0 = now_ms(), last_scan = wall0;
  int next_index = 0;
  for (int s = 0; s < cfg.concurrency && next_index < cfg.count; s++) start_transfer(&ts[s], s, next_index++);
  while (active_count > 0) {
    int n;
    if (cfg.rxq) {
      /* Wake for the earliest ACK the receiver has due, at most 10 ms on. */
      double wait = 10, now = now_ms();
      for (int s = 0; s < cfg.concurrency; s++) {
        if (ts[s].active && ts[s].npend && ts[s].pend[0].due - now < wait) wait = ts[s].pend[0].due - now;
      }
      if (wait < 0) wait = 0;
      struct timespec to = {.tv_sec = 0, .tv_nsec = (long)(wait * 1e6)};
      n = epoll_pwait2(epfd, evs, 256, &to, NULL);
    } else {
      n = epoll_wait(epfd, evs, 256, 10);
    }
    for (int i = 0; i < n; i++) {
      struct transfer *t = evs[i].data.ptr;
      if (t->active) on_readable(t);
    }
    double now = now_ms();
    if (cfg.rxq) {
      for (int s = 0; s < cfg.concurrency; s++)
        if (ts[s].active && ts[s].npend) send_due(&ts[s], now);
    }
    if (now - last_scan >= 10) {
      last_scan = now;
      for (int s = 0; s < cfg.concurrency; s++)
        if (ts[s].active) on_timer(&ts[s], now);
    }
    for (int s = 0; s < cfg.concurrency && next_index < cfg.count; s++)
      if (!ts[s].active) start_transfer(&ts[s], s, next_index++);
  }
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  double cpu = ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
  printf("{\"summary\":true,\"wall_ms\":%.3f,\"cpu_s\":%.3f,\"transfers\":%d}\n", now_ms() - wall0, cpu, started_count);
  return 0;
}
