/* dgecholoop1: dg_echo that counts the datagrams it receives and prints the count on SIGINT or
 * SIGTERM (figure 8.20). usage: dgecholoop1 */
#include "unp.h"

static volatile sig_atomic_t count;

static void recvfrom_int(int signo) {
    char line[64];
    int n = snprintf(line, sizeof(line), "\nreceived %d datagrams\n", (int)count);
    (void)signo;
    write(STDOUT_FILENO, line, (size_t)n);
    _exit(0);
}

int main(void) {
    int sockfd;
    socklen_t len;
    struct sockaddr_in servaddr, cliaddr;
    char mesg[MAXLINE];

    sockfd = Socket(AF_INET, SOCK_DGRAM, 0);
    ipv4(&servaddr, NULL, SERV_PORT);
    Bind(sockfd, (SA *)&servaddr, sizeof(servaddr));
    signal(SIGINT, recvfrom_int);
    signal(SIGTERM, recvfrom_int);
    for (;;) {
        len = sizeof(cliaddr);
        Recvfrom(sockfd, mesg, MAXLINE, 0, (SA *)&cliaddr, &len);
        count++;
    }
}
