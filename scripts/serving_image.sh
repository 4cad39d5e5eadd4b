# shellcheck shell=bash
# The serving image without its builder stage, for podman on a machine where no base image can be
# pulled: model_serving/Dockerfile's final stage (FROM scratch, taken from the Dockerfile itself so
# labels, user and environment are the real ones) built around a model-serving binary made on
# this host. Sourced by scripts/image_size.sh and scripts/container_run.sh; run from the
# repository root. Every function prints its errors and returns non-zero on failure.

# Builds the stripped glibc release binary as the Dockerfile's builder stage does and prints its
# path.
serving_image_release_binary() {
  local bin="${CARGO_TARGET_DIR:-target}/release/model-serving.image"
  CARGO_PROFILE_RELEASE_STRIP=symbols nice -n 10 \
    cargo build -q --release --locked -p model_serving --bin model-serving || return 1
  # A copy: the stripped build shares its path with the unstripped one the benchmarks make.
  cp "${CARGO_TARGET_DIR:-target}/release/model-serving" "$bin" || return 1
  echo "$bin"
}

serving_image_is_static() {
  file -L "$1" | grep -q "static"
}

# serving_image_context CTX BINARY [MODEL_DIR]: fills the directory CTX with what the final stage
# copies from the builder (the binary, /model, /tmp, the CA roots) and CTX/Containerfile, the
# Dockerfile's final stage reading from CTX. MODEL_DIR (a trained model: metadata.json +
# weights.safetensors) is baked in at /model, as the Dockerfile's MODEL_DIR argument does.
serving_image_context() {
  local ctx=$1 bin=$2 model_dir=${3:-}
  mkdir -p "$ctx/out/model" "$ctx/out/tmp" "$ctx/certs"
  chmod 1777 "$ctx/out/tmp"
  install -m 0755 "$bin" "$ctx/out/model-serving"
  cp /etc/ssl/certs/ca-certificates.crt "$ctx/certs/"
  if [ -n "$model_dir" ]; then
    if [ ! -f "$model_dir/metadata.json" ] || [ ! -f "$model_dir/weights.safetensors" ]; then
      echo "MODEL_DIR=$model_dir: no metadata.json + weights.safetensors there; train a model first (model-creation train --out $model_dir)" >&2
      return 1
    fi
    cp -a "$model_dir/." "$ctx/out/model/"
  fi
  mkdir -p "$ctx/out/rootfs"
  if ! serving_image_is_static "$bin"; then
    serving_image_shared_libraries "$ctx" "$bin" >/dev/null || return 1
  fi
  sed -n '/^FROM scratch/,$p' model_serving/Dockerfile |
    sed -e 's#COPY --from=builder /etc/ssl/certs/#COPY certs/#' -e 's#COPY --from=builder /out/#COPY out/#' \
      >"$ctx/Containerfile"
  if grep -q -- "--from=" "$ctx/Containerfile"; then
    echo "model_serving/Dockerfile's final stage copies something scripts/serving_image.sh does not provide:" >&2
    grep -- "--from=" "$ctx/Containerfile" >&2
    return 1
  fi
}

# serving_image_shared_libraries CTX BINARY: for a dynamically linked BINARY, copies exactly the
# shared libraries and the loader that `ldd` lists into CTX/out/rootfs at the same paths, as the
# Dockerfile's builder stage fills /out/rootfs for the final stage. Prints how many.
serving_image_shared_libraries() {
  local ctx=$1 bin=$2 listing path count=0
  listing=$(ldd "$bin") || {
    echo "ldd $bin failed: is it an executable for this machine?" >&2
    return 1
  }
  if grep -q "not found" <<<"$listing"; then
    echo "$bin needs shared libraries this machine lacks:" >&2
    grep "not found" <<<"$listing" >&2
    return 1
  fi
  # Lines are "name => /path (addr)", "/path (addr)" (the loader) or "linux-vdso.so.1 (addr)".
  while IFS= read -r path; do
    mkdir -p "$ctx/out/rootfs$(dirname "$path")"
    cp -L "$path" "$ctx/out/rootfs$path"
    count=$((count + 1))
  done < <(awk '{ for (i = 1; i <= NF; i++) if ($i ~ /^\//) print $i }' <<<"$listing" | sort -u)
  if [ "$count" -eq 0 ]; then
    echo "ldd lists no shared library for $bin although it is not static" >&2
    return 1
  fi
  echo "$count"
}

# serving_image_build CTX TAG: builds CTX/Containerfile as TAG. No intermediate images (--layers=false),
# so removing TAG removes everything the build stored.
serving_image_build() {
  podman build -q --layers=false -t "$2" -f "$1/Containerfile" "$1" >/dev/null
}
