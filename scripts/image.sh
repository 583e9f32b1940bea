#!/usr/bin/env bash
# The operator's OCI image with buildah (no Docker daemon), for `make image` and
# `make image-push`. $BUILDAH is the buildah command with its storage flags.
#
#   scripts/image.sh build REF ARCHIVE   stage the root from target/release/portcullis,
#                                        build the Dockerfile's last stage on it, tag REF,
#                                        write an oci-archive; last line `image: REF ARCHIVE`
#   scripts/image.sh push REF DEST       push REF to DEST (docker://...); last line
#                                        `pushed: DEST@DIGEST`
set -euo pipefail
: "${BUILDAH:?set BUILDAH to the buildah command}"
case "${1:-}" in
build)
    ref=$2 archive=$3
    ctx=target/image/context
    rm -rf "$ctx"
    mkdir -p "$ctx" "$(dirname "$archive")"
    scripts/image-rootfs.sh target/release/portcullis "$ctx/rootfs"
    # The Dockerfile's last stage, copying the root staged here instead of the build
    # stage's: one description of the image for both builds.
    sed -n '/^FROM scratch/,$p' Dockerfile |
        sed 's|^COPY --from=build /rootfs/ /$|COPY rootfs/ /|' >"$ctx/Containerfile"
    grep -q '^COPY rootfs/ /$' "$ctx/Containerfile" ||
        { echo "Dockerfile: the last stage must be FROM scratch + COPY --from=build /rootfs/ /" >&2; exit 1; }
    # --timestamp 0: the same binary gives the same image digest.
    $BUILDAH bud --isolation chroot --timestamp 0 --quiet -f "$ctx/Containerfile" -t "$ref" "$ctx" >&2
    # Earlier builds of the tag, untagged now, go.
    $BUILDAH rmi --prune >/dev/null 2>&1 || true
    rm -f "$archive"
    $BUILDAH push --quiet "$ref" "oci-archive:$archive:$ref" >&2
    echo "image: $ref $archive"
    ;;
push)
    ref=$2 dest=$3
    digest=target/image/pushed.digest
    rm -f "$digest"
    $BUILDAH push --quiet --tls-verify="${IMAGE_TLS_VERIFY:-true}" --digestfile "$digest" \
        "$ref" "docker://$dest" >&2
    echo "pushed: $dest@$(cat "$digest")"
    ;;
*)
    echo "usage: $0 build REF ARCHIVE | push REF DEST" >&2
    exit 2
    ;;
esac
