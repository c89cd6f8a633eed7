/* echoClient: the course's TCP echo client (port 3000). usage: echoClient <IP address> */
#include "unp.h"

#define COURSE_PORT 3000

int main(int argc, char **argv) {
    int sockfd;
    struct sockaddr_in servaddr;
    char sendline[MAXLINE], recvline[MAXLINE];
    ssize_t n;

    if (argc != 2) {
        perror("Usage: TCPClient <IP address of the server");
        exit(1);
    }
    if ((sockfd = socket(AF_INET, SOCK_STREAM, 0)) < 0) {
        perror("Problem in creating the socket");
        exit(2);
    }
    memset(&servaddr, 0, sizeof(servaddr));
    servaddr.sin_family = AF_INET;
    servaddr.sin_addr.s_addr = inet_addr(argv[1]);
    servaddr.sin_port = htons(COURSE_PORT);
    if (connect(sockfd, (SA *)&servaddr, sizeof(servaddr)) < 0) {
        perror("Problem in connecting to the server");
        exit(3);
    }
    while (fgets(sendline, MAXLINE, stdin) != NULL) {
        send(sockfd, sendline, strlen(sendline), 0);
        if ((n = recv(sockfd, recvline, MAXLINE - 1, 0)) == 0) {
            perror("The server terminated prematurely");
            exit(4);
        }
        recvline[n > 0 ? n : 0] = 0;
        printf("%s", "String received from the server: ");
        fputs(recvline, stdout);
        fflush(stdout);
    }
    exit(0);
}
