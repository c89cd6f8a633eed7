/* unp.h: the little of the book's library (unp.h, error.c, wrapsock.c) these programs use.
 * Header-only so that each figure is one .c file; our own code, written from the book's text. */
#ifndef SOCKLAB_UNP_H
#define SOCKLAB_UNP_H

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAXLINE 4096
#define LISTENQ 1024
#define SERV_PORT 9877
#define SA struct sockaddr

/* error.c: err_sys prints "<message>: <strerror>" and exits 1; err_quit prints and exits 1. */
static inline void err_sys(const char *fmt, ...) {
    int saved = errno;
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, ": %s\n", strerror(saved));
    exit(1);
}

static inline void err_quit(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(1);
}

/* wrapsock.c */
static inline int Socket(int family, int type, int protocol) {
    int fd = socket(family, type, protocol);
    if (fd < 0) err_sys("socket error");
    return fd;
}

static inline void Bind(int fd, const SA *sa, socklen_t len) {
    if (bind(fd, sa, len) < 0) err_sys("bind error");
}

static inline void Listen(int fd, int backlog) {
    if (listen(fd, backlog) < 0) err_sys("listen error");
}

static inline void Connect(int fd, const SA *sa, socklen_t len) {
    if (connect(fd, sa, len) < 0) err_sys("connect error");
}

static inline int Accept(int fd, SA *sa, socklen_t *len) {
    int n;
again:
    if ((n = accept(fd, sa, len)) < 0) {
        if (errno == EINTR || errno == ECONNABORTED) goto again; /* section 5.9, 5.11 */
        err_sys("accept error");
    }
    return n;
}

static inline void Close(int fd) {
    if (close(fd) == -1) err_sys("close error");
}

static inline void Write(int fd, const void *buf, size_t n) {
    if (write(fd, buf, n) != (ssize_t)n) err_sys("write error");
}

static inline void Sendto(int fd, const void *buf, size_t n, int flags, const SA *to, socklen_t len) {
    if (sendto(fd, buf, n, flags, to, len) != (ssize_t)n) err_sys("sendto error");
}

static inline ssize_t Recvfrom(int fd, void *buf, size_t n, int flags, SA *from, socklen_t *len) {
    ssize_t got = recvfrom(fd, buf, n, flags, from, len);
    if (got < 0) err_sys("recvfrom error");
    return got;
}

static inline void Inet_pton(int family, const char *text, void *addr) {
    if (inet_pton(family, text, addr) <= 0) err_quit("inet_pton error for %s", text);
}

/* Writen (figure 3.15) and the buffered Readline (figure 3.18): one read() per buffer. */
static inline void Writen(int fd, const void *buf, size_t n) {
    const char *p = buf;
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w <= 0) {
            if (w < 0 && errno == EINTR) continue;
            err_sys("writen error");
        }
        n -= (size_t)w;
        p += w;
    }
}

static inline ssize_t my_read(int fd, char *ptr) {
    static int read_cnt;
    static char *read_ptr;
    static char read_buf[MAXLINE];
    if (read_cnt <= 0) {
    again:
        if ((read_cnt = (int)read(fd, read_buf, sizeof(read_buf))) < 0) {
            if (errno == EINTR) goto again;
            return -1;
        } else if (read_cnt == 0) {
            return 0;
        }
        read_ptr = read_buf;
    }
    read_cnt--;
    *ptr = *read_ptr++;
    return 1;
}

static inline ssize_t Readline(int fd, char *buf, size_t max) {
    size_t n;
    char c;
    for (n = 1; n < max; n++) {
        ssize_t rc = my_read(fd, &c);
        if (rc == 1) {
            *buf++ = c;
            if (c == '\n') break;
        } else if (rc == 0) {
            *buf = 0;
            return (ssize_t)(n - 1);
        } else {
            err_sys("readline error");
        }
    }
    *buf = 0;
    return (ssize_t)n;
}

static inline void Fputs(const char *s, FILE *f) {
    if (fputs(s, f) == EOF) err_sys("fputs error");
    fflush(f);
}

static inline void ipv4(struct sockaddr_in *sa, const char *text, int port) {
    memset(sa, 0, sizeof(*sa));
    sa->sin_family = AF_INET;
    sa->sin_port = htons((uint16_t)port);
    if (text == NULL) sa->sin_addr.s_addr = htonl(INADDR_ANY);
    else Inet_pton(AF_INET, text, &sa->sin_addr);
}

#endif
