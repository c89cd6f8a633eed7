/* daytimetcpsrv1: TCP daytime server that prints each client's address and port (figure 4.11).
 * usage: daytimetcpsrv1 */
#include "unp.h"

int main(void) {
    int listenfd, connfd;
    socklen_t len;
    struct sockaddr_in servaddr, cliaddr;
    char buff[MAXLINE], addr[INET_ADDRSTRLEN];
    time_t ticks;

    listenfd = Socket(AF_INET, SOCK_STREAM, 0);
    ipv4(&servaddr, NULL, 13);
    Bind(listenfd, (SA *)&servaddr, sizeof(servaddr));
    Listen(listenfd, LISTENQ);
    for (;;) {
        len = sizeof(cliaddr);
        connfd = Accept(listenfd, (SA *)&cliaddr, &len);
        printf("connection from %s, port %d\n",
               inet_ntop(AF_INET, &cliaddr.sin_addr, addr, sizeof(addr)),
               ntohs(cliaddr.sin_port));
        fflush(stdout);
        ticks = time(NULL);
        snprintf(buff, sizeof(buff), "%.24s\r\n", ctime(&ticks));
        Write(connfd, buff, strlen(buff));
        Close(connfd);
    }
}
