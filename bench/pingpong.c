/*
 * Fairness probe for bench/fairness.ts.
 *
 *   pingpong echo N          binds N UDP sockets on 127.0.0.1, prints their
 *                            ports as a JSON array, then echoes every
 *                            datagram back (one epoll thread): the baseline.
 *   pingpong client R P...   one socket per port P, each in ping-pong with
 *                            its port (one 516-byte datagram in flight),
 *                            R round trips each; prints one JSON line with
 *                            the round-trip time percentiles in ms.
 *
 * The client serves every socket as soon as epoll reports it, so a long
 * round trip means the echo server left that socket waiting.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static double now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static int by_value(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static struct sockaddr_in loopback(int port) {
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return a;
}

static int echo(int n) {
  int ep = epoll_create1(0);
  printf("[");
  for (int i = 0; i < n; i++) {
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in a = loopback(0);
    socklen_t len = sizeof a;
    if (fd < 0 || bind(fd, (void *)&a, sizeof a) < 0) return 1;
    getsockname(fd, (void *)&a, &len);
    printf("%s%d", i ? "," : "", ntohs(a.sin_port));
    struct epoll_event e = {.events = EPOLLIN, .data.fd = fd};
    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &e);
  }
  printf("]\n");
  fflush(stdout);
  struct epoll_event ev[256];
  char buf[2048];
  for (;;) {
    int k = epoll_wait(ep, ev, 256, -1);
    for (int j = 0; j < k; j++) {
      struct sockaddr_in from;
      socklen_t len = sizeof from;
      ssize_t r = recvfrom(ev[j].data.fd, buf, sizeof buf, 0, (void *)&from, &len);
      if (r > 0) sendto(ev[j].data.fd, buf, r, 0, (void *)&from, len);
    }
  }
}

static int client(int rounds, int n, char **ports) {
  int *fd = calloc(n, sizeof *fd);
  int *count = calloc(n, sizeof *count);
  double *sent = calloc(n, sizeof *sent);
  double *rtt = calloc((size_t)n * rounds, sizeof *rtt);
  long got = 0;
  int ep = epoll_create1(0), done = 0;
  char pkt[516] = {0}, buf[2048];
  for (int i = 0; i < n; i++) {
    struct sockaddr_in a = loopback(atoi(ports[i]));
    fd[i] = socket(AF_INET, SOCK_DGRAM, 0);
    if (fd[i] < 0 || connect(fd[i], (void *)&a, sizeof a) < 0) return 1;
    struct epoll_event e = {.events = EPOLLIN, .data.u32 = i};
    epoll_ctl(ep, EPOLL_CTL_ADD, fd[i], &e);
  }
  double t0 = now_ms();
  for (int i = 0; i < n; i++) {
    sent[i] = now_ms();
    send(fd[i], pkt, sizeof pkt, 0);
  }
  struct epoll_event ev[256];
  while (done < n) {
    int k = epoll_wait(ep, ev, 256, 10000);
    if (k <= 0) break; /* 10 s without any echo: report what we have */
    for (int j = 0; j < k; j++) {
      int i = ev[j].data.u32;
      if (recv(fd[i], buf, sizeof buf, 0) < 0) continue;
      double t = now_ms();
      rtt[got++] = t - sent[i];
      if (++count[i] >= rounds) {
        done++;
        continue;
      }
      sent[i] = now_ms();
      send(fd[i], pkt, sizeof pkt, 0);
    }
  }
  double wall = now_ms() - t0;
  if (got == 0) return 1;
  qsort(rtt, got, sizeof *rtt, by_value);
  printf("{\"sockets\":%d,\"round_trips\":%ld,\"unfinished\":%d,\"wall_ms\":%.1f,"
         "\"p50\":%.3f,\"p99\":%.3f,\"p999\":%.3f,\"max\":%.3f}\n",
         n, got, n - done, wall, rtt[got / 2], rtt[(long)(got * 0.99)],
         rtt[(long)(got * 0.999)], rtt[got - 1]);
  return 0;
}

int main(int argc, char **argv) {
  if (argc >= 3 && !strcmp(argv[1], "echo")) return echo(atoi(argv[2]));
  if (argc >= 4 && !strcmp(argv[1], "client")) {
    return client(atoi(argv[2]), argc - 3, argv + 3);
  }
  fprintf(stderr, "usage: pingpong echo N | pingpong client ROUNDS PORT...\n");
  return 2;
}
