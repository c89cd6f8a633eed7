/* udpcli01: UDP echo client (figures 8.7 and 8.8, dg_cli). usage: udpcli01 <IPaddress> */
#include "unp.h"

static void dg_cli(FILE *fp, int sockfd, const SA *pservaddr, socklen_t servlen) {
    ssize_t n;
    char sendline[MAXLINE], recvline[MAXLINE + 1];
    while (fgets(sendline, MAXLINE, fp) != NULL) {
        Sendto(sockfd, sendline, strlen(sendline), 0, pservaddr, servlen);
        n = Recvfrom(sockfd, recvline, MAXLINE, 0, NULL, NULL);
        recvline[n] = 0;
        Fputs(recvline, stdout);
    }
}

int main(int argc, char **argv) {
    int sockfd;
    struct sockaddr_in servaddr;

    if (argc != 2) err_quit("usage: udpcli01 <IPaddress>");
    ipv4(&servaddr, argv[1], SERV_PORT);
    sockfd = Socket(AF_INET, SOCK_DGRAM, 0);
    dg_cli(stdin, sockfd, (SA *)&servaddr, sizeof(servaddr));
    exit(0);
}
