/* daytimetcpcli: TCP daytime client (the book's figure 1.5). usage: daytimetcpcli <IPaddress> */
#include "unp.h"

int main(int argc, char **argv) {
    int sockfd;
    ssize_t n;
    char recvline[MAXLINE + 1];
    struct sockaddr_in servaddr;

    if (argc != 2) err_quit("usage: daytimetcpcli <IPaddress>");
    sockfd = Socket(AF_INET, SOCK_STREAM, 0);
    ipv4(&servaddr, argv[1], 13); /* daytime server */
    Connect(sockfd, (SA *)&servaddr, sizeof(servaddr));
    while ((n = read(sockfd, recvline, MAXLINE)) > 0) {
        recvline[n] = 0;
        Fputs(recvline, stdout);
    }
    if (n < 0) err_sys("read error");
    exit(0);
}
