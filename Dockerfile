# CoreDNS with caapolicy, from the static binaries release/build.sh puts in dist/:
#
#   release/build.sh
#   podman build --build-arg TARGETARCH=amd64 -t caapolicy .
#   podman run --rm -p 1053:53/udp -p 1053:53/tcp caapolicy
#   dig @127.0.0.1 -p 1053 example.org CAA
#
# The image runs as an unprivileged user; Docker and Podman let it bind port 53 (they set
# net.ipv4.ip_unprivileged_port_start=0 in the container). .ci/run builds and runs it.
FROM scratch
ARG TARGETARCH=amd64
COPY dist/coredns-linux-${TARGETARCH} /coredns
COPY release/Corefile /etc/coredns/Corefile
COPY example.org.zone /etc/coredns/example.org.zone
COPY LICENSE /LICENSE
WORKDIR /etc/coredns
USER 65532:65532
EXPOSE 53/udp 53/tcp
ENTRYPOINT ["/coredns"]
CMD ["-conf", "/etc/coredns/Corefile"]
