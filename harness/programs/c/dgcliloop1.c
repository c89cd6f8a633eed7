/* dgcliloop1: dg_cli that writes 2000 datagrams of 1400 bytes and reads nothing (figure 8.19).
 * usage: dgcliloop1 <IPaddress> */
#include "unp.h"

#define NDG 2000   /* datagrams to send */
#define DGLEN 1400 /* length of each datagram */

int main(int argc, char **argv) {
    int sockfd, i;
    struct sockaddr_in servaddr;
    char sendline[DGLEN];

    if (argc != 2) err_quit("usage: dgcliloop1 <IPaddress>");
    ipv4(&servaddr, argv[1], SERV_PORT);
    sockfd = Socket(AF_INET, SOCK_DGRAM, 0);
    memset(sendline, 0, sizeof(sendline));
    for (i = 0; i < NDG; i++)
        Sendto(sockfd, sendline, DGLEN, 0, (SA *)&servaddr, sizeof(servaddr));
    printf("sent %d datagrams of %d bytes\n", NDG, DGLEN);
    exit(0);
}
