# The worker host as a small image, with no registry: `make worker-image`
# assembles a root filesystem locally (scripts/worker-rootfs.sh: the release
# wharf-worker, the shared libraries it links, CA certificates, and a static
# busybox as the userland process tasks run in) and builds this from scratch.
FROM scratch
COPY . /
ENV PATH=/usr/local/bin:/bin \
    WHARF_WORK_DIR=/var/lib/wharf
# Container tasks need the engine's socket mounted; run as a user that may
# open it (--group-add <docker gid>) or as root.
USER 65534:65534
ENTRYPOINT ["/usr/local/bin/wharf-worker"]
