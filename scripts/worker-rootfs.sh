#!/usr/bin/env bash
# Assembles the worker image's root filesystem in $1 from the release binary
# $2: the binary, every shared library `ldd` names (with the loader), the
# system CA bundle, a static busybox as /bin, and a writable work directory.
set -euo pipefail
root=$1
binary=$2
rm -rf "$root"
mkdir -p "$root/usr/local/bin" "$root/etc/ssl/certs" "$root/bin" "$root/tmp" "$root/var/lib/wharf"
chmod 1777 "$root/tmp"
chown 65534:65534 "$root/var/lib/wharf"
cp "$binary" "$root/usr/local/bin/wharf-worker"
for lib in $(ldd "$binary" | grep -o '/[^ ]*'); do
  mkdir -p "$root$(dirname "$lib")"
  cp -L "$lib" "$root$lib"
done
cp -L /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/"
busybox=$(command -v busybox)
cp "$busybox" "$root/bin/busybox"
for applet in sh cat echo env ls mkdir rm cp mv sleep head tail grep sed seq date; do
  ln -s busybox "$root/bin/$applet"
done
printf 'root:x:0:0::/root:/bin/sh\nnobody:x:65534:65534::/var/lib/wharf:/bin/sh\n' >"$root/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' >"$root/etc/group"
