# The operator's image, for building with Docker/BuildKit (`docker build .`). `make image`
# builds the same image with buildah, no daemon: it stages the root with
# scripts/image-rootfs.sh from a host build and builds the last stage below on it
# (tests/image.rs checks both give the same entrypoint, user and files).
# Glibc, not musl: the binary runs on the libraries ldd lists, copied from this stage.
FROM docker.io/library/rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --no-default-features \
    && scripts/image-rootfs.sh target/release/portcullis /rootfs

# Nothing but the binary, its shared libraries and the CA bundle: no shell, no package
# manager. Runs as a numeric non-root user and writes nothing (readOnlyRootFilesystem).
FROM scratch
COPY --from=build /rootfs/ /
ENV PATH=/usr/local/bin
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/portcullis"]
CMD ["controller"]
