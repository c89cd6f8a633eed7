/* tcpcli01: TCP echo client (figures 5.4 and 5.5); it prints each echo as it came, and nothing
 * else, as the book's str_cli does.
 * usage: tcpcli01 <IPaddress> */
#include "unp.h"

static void str_cli(FILE *fp, int sockfd) {
    char sendline[MAXLINE], recvline[MAXLINE];
    while (fgets(sendline, MAXLINE, fp) != NULL) {
        Writen(sockfd, sendline, strlen(sendline));
        if (Readline(sockfd, recvline, MAXLINE) == 0) err_quit("str_cli: server terminated prematurely");
        Fputs(recvline, stdout);
    }
}

int main(int argc, char **argv) {
    int sockfd;
    struct sockaddr_in servaddr;

    if (argc != 2) err_quit("usage: tcpcli01 <IPaddress>");
    sockfd = Socket(AF_INET, SOCK_STREAM, 0);
    ipv4(&servaddr, argv[1], SERV_PORT);
    Connect(sockfd, (SA *)&servaddr, sizeof(servaddr));
    str_cli(stdin, sockfd);
    exit(0);
}
