# The socklab node: one image, three roles (client, router, server).
# BASE is debian:bookworm-slim when it can be pulled, else socklab-base:bookworm built from
# Debian packages by images/build; the apt step below is the same for both.
ARG BASE=debian:bookworm-slim
FROM ${BASE}
ARG INPUTS=unknown
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      python3 strace tcpdump iproute2 nftables iptables iputils-ping procps util-linux \
 && rm -rf /var/lib/apt/lists/*
COPY node-entrypoint /usr/local/sbin/socklab-node
LABEL socklab=1 socklab.inputs=${INPUTS}
ENTRYPOINT ["/usr/local/sbin/socklab-node"]
