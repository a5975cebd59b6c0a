# The worker host as a small image, with no registry: `make worker-image`
# assembles a root filesystem locally (scripts/worker-rootfs.sh: the release
# wharf-worker, the shared libraries it links, CA certificates, and a static
# busybox as the userland process tasks run in) and builds this from scratch.
FROM scratch
COPY . /
ENV PATH=/usr/local/bin:/bin \
    WHARF_WORK_DIR=/var/lib/wharf
# Root inside the container, so that each process or script task runs under
# a uid of its own (--task-uids) and cannot read the worker or other tasks.
# Container tasks need the engine's socket mounted. To confine the worker
# itself: docker run --cap-drop ALL --cap-add SETUID --cap-add SETGID
#   --cap-add CHOWN --cap-add FOWNER --cap-add DAC_OVERRIDE --cap-add KILL …
USER 0:0
ENTRYPOINT ["/usr/local/bin/wharf-worker"]
