# socklab in a box: the netns backend inside one privileged container, for Docker Desktop's
# Linux VM, a Codespace or a CI job. Built by images/build-box (`make box`) with no registry:
# BASE is the node image's base (debian:bookworm-slim, or socklab-base:bookworm made from
# Debian packages); socklab and its pinned dependencies come as wheels built on the machine
# (PyPI is not reachable from inside a build here), the book's C programs as the machine's
# static binaries.
ARG BASE=debian:bookworm-slim
FROM ${BASE}
ARG VERSION=unknown
ARG INPUTS=unknown
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      python3 python3-venv tcpdump strace nftables iptables iproute2 bubblewrap util-linux \
      procps kmod \
 && rm -rf /var/lib/apt/lists/*
COPY wheels /tmp/wheels
RUN python3 -m venv /opt/socklab \
 && /opt/socklab/bin/pip install --quiet --no-index --find-links /tmp/wheels socklab \
 && rm -rf /tmp/wheels
COPY c-bin /tmp/c-bin
RUN target=$(/opt/socklab/bin/python -c 'import socklab, os; print(os.path.dirname(socklab.__file__))')/programs/c/bin \
 && mkdir -p "$target" && cp /tmp/c-bin/* "$target"/ && rm -rf /tmp/c-bin
COPY box-entrypoint /usr/local/bin/socklab-box
ENV PATH=/opt/socklab/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    SOCKLAB_IN_BOX=1
LABEL socklab.box=1 socklab.version=${VERSION} socklab.inputs=${INPUTS}
WORKDIR /work
ENTRYPOINT ["/usr/local/bin/socklab-box"]
CMD ["--help"]
