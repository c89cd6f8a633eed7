/* tcpserv01: concurrent TCP echo server, one child per client (figures 5.2, 5.3, with sig_chld
 * of figure 5.11). Like the book's, it prints nothing.
 * usage: tcpserv01 */
#include "unp.h"

static void sig_chld(int signo) {
    (void)signo;
    while (waitpid(-1, NULL, WNOHANG) > 0) continue;
}

static void str_echo(int sockfd) {
    ssize_t n;
    char buf[MAXLINE + 1];
again:
    while ((n = read(sockfd, buf, MAXLINE)) > 0) {
        Writen(sockfd, buf, (size_t)n);
    }
    if (n < 0 && errno == EINTR) goto again;
    else if (n < 0) err_sys("str_echo: read error");
}

int main(void) {
    int listenfd, connfd, on = 1;
    pid_t childpid;
    socklen_t clilen;
    struct sockaddr_in cliaddr, servaddr;
    struct sigaction act;

    memset(&act, 0, sizeof(act));
    act.sa_handler = sig_chld; /* no SA_RESTART: accept() sees EINTR, as in section 5.9 */
    sigaction(SIGCHLD, &act, NULL);
    listenfd = Socket(AF_INET, SOCK_STREAM, 0);
    setsockopt(listenfd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
    ipv4(&servaddr, NULL, SERV_PORT);
    Bind(listenfd, (SA *)&servaddr, sizeof(servaddr));
    Listen(listenfd, 8); /* the course's LISTENQ */
    for (;;) {
        clilen = sizeof(cliaddr);
        connfd = Accept(listenfd, (SA *)&cliaddr, &clilen);
        if ((childpid = fork()) == 0) {
            Close(listenfd);
            str_echo(connfd);
            Close(connfd);
            exit(0);
        }
        Close(connfd); /* the parent closes connfd: section 4.8 */
    }
}
