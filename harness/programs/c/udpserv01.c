/* udpserv01: UDP echo server (figures 8.3 and 8.4, dg_echo). usage: udpserv01 */
#include "unp.h"

static void dg_echo(int sockfd, SA *pcliaddr, socklen_t clilen) {
    ssize_t n;
    socklen_t len;
    char mesg[MAXLINE];
    for (;;) {
        len = clilen;
        n = Recvfrom(sockfd, mesg, MAXLINE, 0, pcliaddr, &len);
        Sendto(sockfd, mesg, (size_t)n, 0, pcliaddr, len);
    }
}

int main(void) {
    int sockfd;
    struct sockaddr_in servaddr, cliaddr;

    sockfd = Socket(AF_INET, SOCK_DGRAM, 0);
    ipv4(&servaddr, NULL, SERV_PORT);
    Bind(sockfd, (SA *)&servaddr, sizeof(servaddr));
    dg_echo(sockfd, (SA *)&cliaddr, sizeof(cliaddr));
}
