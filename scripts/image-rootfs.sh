#!/bin/sh
# Stages the root filesystem of the operator's image in ROOT: the binary (stripped), the shared
# libraries `ldd` lists for it (the dynamic loader included) and the CA bundle (rustls
# reads it for HTTPS to Prometheus and webhooks; the API server's CA comes from the
# kubeconfig or the service account). No shell, no package manager, nothing else.
# Used by `make image` and by the Dockerfile's build stage, so both give the same layout.
#
#   scripts/image-rootfs.sh BINARY ROOT
set -eu
bin=$1
root=$2
rm -rf "$root"
mkdir -p "$root/usr/local/bin" "$root/etc/ssl/certs"
install -m 0755 "$bin" "$root/usr/local/bin/portcullis"
# Symbols halve the binary; panics still print their message and location.
strip --strip-all "$root/usr/local/bin/portcullis"
# Lines are `name => /path (addr)`, `/path (addr)`, or `linux-vdso.so.1 (addr)` (no file).
for lib in $(ldd "$bin" | grep -o '/[^ ]*'); do
    mkdir -p "$root$(dirname "$lib")"
    cp -L "$lib" "$root$lib"
    chmod 0755 "$root$lib"
done
install -m 0644 /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/ca-certificates.crt"
