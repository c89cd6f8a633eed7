/* echoServer: the course's concurrent TCP echo server (port 3000). usage: echoServer */
#include "unp.h"

#define COURSE_PORT 3000
#define COURSE_LISTENQ 8

int main(void) {
    int listenfd, connfd;
    ssize_t n;
    pid_t childpid;
    socklen_t clilen;
    char buf[MAXLINE];
    struct sockaddr_in cliaddr, servaddr;

    signal(SIGCHLD, SIG_IGN); /* the course's server never waits: let the kernel reap */
    if ((listenfd = socket(AF_INET, SOCK_STREAM, 0)) < 0) {
        perror("Problem in creating the socket");
        exit(2);
    }
    memset(&servaddr, 0, sizeof(servaddr));
    servaddr.sin_family = AF_INET;
    servaddr.sin_addr.s_addr = htonl(INADDR_ANY);
    servaddr.sin_port = htons(COURSE_PORT);
    bind(listenfd, (SA *)&servaddr, sizeof(servaddr));
    listen(listenfd, COURSE_LISTENQ);
    printf("%s\n", "Server running...waiting for connections.");
    fflush(stdout);
    for (;;) {
        clilen = sizeof(cliaddr);
        connfd = accept(listenfd, (SA *)&cliaddr, &clilen);
        printf("%s\n", "Received request...");
        fflush(stdout);
        if ((childpid = fork()) == 0) {
            printf("%s\n", "Child created for dealing with client requests");
            fflush(stdout);
            close(listenfd);
            while ((n = recv(connfd, buf, MAXLINE - 1, 0)) > 0) {
                buf[n] = 0;
                printf("%s", "String received from and resent to the client:");
                puts(buf);
                fflush(stdout);
                send(connfd, buf, (size_t)n, 0);
            }
            if (n < 0) printf("%s\n", "Read error");
            exit(0);
        }
        close(connfd);
    }
}
