#!/usr/bin/env bash
# Builds a family of real images from Debian packages for the whole-scan benchmark (benchmarks/README.md, "Real
# images built from Debian packages"): a debootstrap --variant=minbase root file system made into an OCI image with
# umoci, images derived from it by `apt-get install` in a chroot of the unpacked bundle (one `umoci repack` = one new
# layer each), and small "app" layers on top. Every image is written as one OCI layout directory in two variants,
# OUT/gzip/NAME (umoci's gzip layers, copied as they are by skopeo) and OUT/zstd/NAME (skopeo copy
# --dest-compress-format zstd), the shape of tests/LayerStats.Fixtures/BenchData.cs, with the same side files:
#   OUT/layers.tsv        one row per distinct layer (by diff_id): tar bytes, entries, regular files, digests, sizes
#   OUT/layers-gzip.txt   one blob path per distinct layer (first image that uses it), for the baselines
#   OUT/layers-zstd.txt   the same for the zstd variant
#   OUT/images.txt        image name, then its layers (named after the image that introduced each)
#   OUT/packages.txt      image, package, version, architecture of every installed package of every image
# Needs root, a reachable Debian mirror and (installed when missing) debootstrap, umoci, skopeo, zstd, curl.
# Not bit-reproducible: the package versions are the mirror's at the time the debootstrap cache was made (kept in
# the cache: apt uses the cached package lists, never `apt-get update`), and file times in the layers are the times
# of the build. SOURCE_DATE_EPOCH (default 2025-01-01) only sets the image config and history dates.
set -euo pipefail

SUITE=bookworm
MIRROR=http://deb.debian.org/debian
CACHE=""
OUT=""

usage() {
    cat <<EOF
usage: benchmarks/scan/debian-images.sh OUT [--suite bookworm] [--mirror URL] [--cache DIR]
  OUT          output directory (OUT/gzip, OUT/zstd and the side files are rebuilt; OUT/build is scratch)
  --suite S    Debian suite to debootstrap (default bookworm)
  --mirror URL Debian mirror (default http://deb.debian.org/debian)
  --cache DIR  debootstrap result and downloaded .debs, kept across runs (default OUT/cache)
EOF
}

while [ $# -gt 0 ]; do
    case "$1" in
        --suite) SUITE=$2; shift 2 ;;
        --mirror) MIRROR=${2%/}; shift 2 ;;
        --cache) CACHE=$2; shift 2 ;;
        -h|--help) usage; exit 0 ;;
        -*) usage >&2; exit 2 ;;
        *) [ -z "$OUT" ] || { usage >&2; exit 2; }; OUT=$1; shift ;;
    esac
done
[ -n "$OUT" ] || { usage >&2; exit 2; }

die() { echo "debian-images: $*" >&2; exit 1; }
log() { echo "debian-images: $*" >&2; }

[ "$(id -u)" = 0 ] || die "must run as root (debootstrap, chroot, mount, umoci unpack with device nodes)"
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
CACHE=${CACHE:-$OUT/cache}
mkdir -p "$CACHE/archives"
CACHE=$(cd "$CACHE" && pwd)
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-1735689600}
CREATED=$(date -u -d "@$SOURCE_DATE_EPOCH" +%Y-%m-%dT%H:%M:%SZ)
ARCH=$(dpkg --print-architecture)

command -v curl >/dev/null || { apt-get install -y -q curl >/dev/null || die "cannot install curl"; }
# The mirror first: every later step needs it (apt-get install of the tools, debootstrap, package downloads).
curl -fsS --max-time 30 -o /dev/null "$MIRROR/dists/$SUITE/Release" ||
    die "Debian mirror unreachable: $MIRROR/dists/$SUITE/Release (check --mirror / --suite and the network)"

missing=()
for tool in debootstrap umoci skopeo zstd; do
    command -v "$tool" >/dev/null || missing+=("$tool")
done
if [ ${#missing[@]} -gt 0 ]; then
    log "installing ${missing[*]} ..."
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >/dev/null ||
        die "apt-get install ${missing[*]} failed (try apt-get update first)"
fi
command -v python3 >/dev/null || die "python3 is needed for the layer accounting"

# ---- the debootstrap result, cached ----------------------------------------------------------------------------
ROOTFS="$CACHE/minbase-$SUITE-$ARCH"
if [ ! -e "$ROOTFS/.debootstrap-done" ]; then
    log "debootstrap --variant=minbase $SUITE $MIRROR -> $ROOTFS ..."
    rm -rf "$ROOTFS.tmp"
    debootstrap --variant=minbase --arch "$ARCH" "$SUITE" "$ROOTFS.tmp" "$MIRROR" > "$CACHE/debootstrap.log" 2>&1 ||
        { tail -20 "$CACHE/debootstrap.log" >&2; die "debootstrap failed (log: $CACHE/debootstrap.log)"; }
    rm -rf "$ROOTFS"
    mv "$ROOTFS.tmp" "$ROOTFS"
    date -u +%Y-%m-%dT%H:%M:%SZ > "$ROOTFS/.debootstrap-done"
fi
compgen -G "$ROOTFS/var/lib/apt/lists/*_Packages" >/dev/null ||
    die "the cached root file system has no apt package lists: remove $ROOTFS and rerun"

# ---- scratch ----------------------------------------------------------------------------------------------------
BUILD="$OUT/build"
LAYOUT="$BUILD/oci"
PROC_MOUNTED=""
cleanup() {
    if [ -n "$PROC_MOUNTED" ]; then umount "$PROC_MOUNTED" 2>/dev/null || true; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
# a /proc left mounted in the scratch bundles by a killed run: unmount before removing the scratch
awk -v b="$BUILD/" 'index($2, b) == 1 { print $2 }' /proc/mounts | while read -r m; do umount "$m"; done
rm -rf "$BUILD" "$OUT/gzip" "$OUT/zstd" "$OUT/layers.tsv" "$OUT/layers-gzip.txt" "$OUT/layers-zstd.txt" \
    "$OUT/images.txt" "$OUT/packages.txt"
mkdir -p "$BUILD"
umoci init --layout "$LAYOUT"

: > "$BUILD/images.tsv" # name, parent, the new layer's name
: > "$OUT/packages.txt"

# in_chroot ROOTFS SCRIPT: runs SCRIPT (sh) in a chroot of ROOTFS with the cached apt lists and .debs, /proc
# mounted and DNS for download misses; afterwards removes everything it brought in (apt lists, .debs, resolv.conf,
# policy-rc.d) so the layer holds only what the install itself wrote.
in_chroot() {
    local r=$1 script=$2
    mkdir -p "$r/var/lib/apt/lists/partial" "$r/var/cache/apt/archives/partial"
    cp -a "$ROOTFS/var/lib/apt/lists/." "$r/var/lib/apt/lists/"
    find "$CACHE/archives" -maxdepth 1 -name '*.deb' -exec cp -t "$r/var/cache/apt/archives/" {} +
    cp /etc/resolv.conf "$r/etc/resolv.conf"
    printf '#!/bin/sh\nexit 101\n' > "$r/usr/sbin/policy-rc.d"
    chmod 755 "$r/usr/sbin/policy-rc.d"
    mount -t proc proc "$r/proc"
    PROC_MOUNTED="$r/proc"
    chroot "$r" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LC_ALL=C.UTF-8 \
        DEBIAN_FRONTEND=noninteractive SOURCE_DATE_EPOCH="$SOURCE_DATE_EPOCH" /bin/sh -euc "$script" \
        > "$BUILD/chroot.log" 2>&1 || { tail -20 "$BUILD/chroot.log" >&2; die "chroot step failed: $script"; }
    umount "$r/proc"
    PROC_MOUNTED=""
    find "$r/var/cache/apt/archives" -maxdepth 1 -name '*.deb' -exec cp -n -t "$CACHE/archives/" {} +
    rm -rf "$r/var/cache/apt/archives/"*.deb "$r/var/cache/apt/archives/partial" "$r/var/cache/apt/"*.bin \
        "$r/var/lib/apt/lists" "$r/etc/resolv.conf" "$r/usr/sbin/policy-rc.d"
    mkdir -p "$r/var/lib/apt/lists/partial" "$r/var/cache/apt/archives/partial"
}

# finish NAME BUNDLE CREATED_BY: repacks BUNDLE as tag NAME (one new layer), records its packages, removes BUNDLE.
finish() {
    local name=$1 bundle=$2 created_by=$3
    umoci repack --image "$LAYOUT:$name" --history.created "$CREATED" --history.created_by "$created_by" "$bundle"
    umoci config --image "$LAYOUT:$name" --created "$CREATED" --no-history
    chroot "$bundle/rootfs" dpkg-query -W -f '${Package}\t${Version}\t${Architecture}\n' |
        sed "s/^/$name\t/" >> "$OUT/packages.txt"
    rm -rf "$bundle"
}

# derive NAME PARENT CREATED_BY: unpacks PARENT into a bundle for NAME; prints the bundle's root file system.
derive() {
    local name=$1 parent=$2 created_by=$3
    printf '%s\t%s\t%s\n' "$name" "$parent" "$created_by" >> "$BUILD/images.tsv"
    umoci unpack --image "$LAYOUT:$parent" "$BUILD/$name" >/dev/null
    echo "$BUILD/$name/rootfs"
}

t0=$EPOCHREALTIME
# base: the minbase root file system, slimmed as the official debian images are (no apt lists or caches, no
# resolv.conf / hostname of the build host).
log "image base ..."
umoci new --image "$LAYOUT:base"
umoci config --image "$LAYOUT:base" --created "$CREATED" --no-history --config.cmd /bin/bash \
    --config.env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
umoci unpack --image "$LAYOUT:base" "$BUILD/base" >/dev/null
tar -C "$ROOTFS" --exclude=./.debootstrap-done -cf - . | tar -C "$BUILD/base/rootfs" -xpf -
r="$BUILD/base/rootfs"
rm -rf "$r/var/lib/apt/lists" "$r/var/cache/apt/"*.bin "$r/var/cache/apt/archives" "$r/etc/resolv.conf" "$r/etc/hostname"
mkdir -p "$r/var/lib/apt/lists/partial" "$r/var/cache/apt/archives/partial"
printf 'base\t\tdebootstrap --variant=minbase %s\n' "$SUITE" >> "$BUILD/images.tsv"
finish base "$BUILD/base" "debootstrap --variant=minbase $SUITE"

# python: base + python3
APT='apt-get install -y -q --no-install-recommends'
log "image python ..."
r=$(derive python base "apt-get install python3")
in_chroot "$r" "$APT python3"
finish python "$BUILD/python" "apt-get install python3"

# build: base + build-essential (gcc, make, libc6-dev, perl, ...)
log "image build ..."
r=$(derive build base "apt-get install build-essential")
in_chroot "$r" "$APT build-essential"
finish build "$BUILD/build" "apt-get install build-essential"

# ci: base + build-essential and python3 in one layer: the same files as the python and build layers, in another
# layer (file-level duplicates that layer sharing misses).
log "image ci ..."
r=$(derive ci base "apt-get install build-essential python3")
in_chroot "$r" "$APT build-essential python3"
finish ci "$BUILD/ci" "apt-get install build-essential python3"

# reinstall: base + `apt-get install --reinstall` of packages already in base: the same bytes again in an upper
# layer, hiding the lower copies. dpkg rewrites every file with the package's own mtime, and umoci's diff (go-mtree:
# size, mode, owner, mtime, sha256, ...) then sees no change, where an overlayfs-based builder (docker build) would
# copy every rewritten file up into the layer. The installed files are therefore touched (mtime SOURCE_DATE_EPOCH)
# so umoci takes them too: same content as in base, only the tar header's mtime differs.
log "image reinstall ..."
REINSTALL="coreutils bash libc6 perl-base"
r=$(derive reinstall base "apt-get install --reinstall $REINSTALL")
in_chroot "$r" "apt-get install -y -q --reinstall $REINSTALL
dpkg -L $REINSTALL | sort -u | while read -r f; do
    if [ -L \"\$f\" ] || [ -f \"\$f\" ]; then touch -h -d @\$SOURCE_DATE_EPOCH \"\$f\"; fi
done"
finish reinstall "$BUILD/reinstall" "apt-get install --reinstall coreutils bash libc6 perl-base"

# app-web: python + a small application, and the usual "slimming" that only hides bytes (documentation removed in
# an upper layer: whiteouts, the bytes stay in the lower layers).
log "image app-web ..."
r=$(derive app-web python "COPY web /srv/web; rm -rf /usr/share/doc/*")
mkdir -p "$r/srv/web/static"
python3 - "$r/srv/web" <<'EOF'
import random, sys
root = sys.argv[1]
rng = random.Random(5)
with open(f"{root}/app.py", "w") as f:
    f.write("import http.server\n\nhttp.server.test(http.server.SimpleHTTPRequestHandler, port=8000)\n")
for i in range(40):
    with open(f"{root}/static/page{i:02}.html", "w") as f:
        f.write("<html><body>\n" + "".join(f"<p>{rng.random()}</p>\n" for _ in range(200 + 50 * i)) + "</body></html>\n")
with open(f"{root}/static/bundle.bin", "wb") as f:
    f.write(rng.randbytes(3 << 20))
EOF
rm -rf "$r/usr/share/doc/"*
finish app-web "$BUILD/app-web" "COPY web /srv/web; rm -rf /usr/share/doc/*"

# app-cli: python + a tool, a sitecustomize.py that overwrites the distribution's, and a removed locale tree.
log "image app-cli ..."
r=$(derive app-cli python "COPY cli /opt/cli; COPY sitecustomize.py; rm -rf /usr/share/locale")
mkdir -p "$r/opt/cli"
python3 - "$r/opt/cli" <<'EOF'
import random, sys
root = sys.argv[1]
rng = random.Random(7)
for i in range(25):
    with open(f"{root}/mod{i:02}.py", "w") as f:
        f.write(f"# module {i}\n" + "".join(f"def f{j}(x):\n    return x * {rng.randint(1, 999)}\n\n" for j in range(100 + 20 * i)))
EOF
sc=$(ls "$r"/etc/python3.*/sitecustomize.py 2>/dev/null | head -1 || true)
[ -n "$sc" ] || die "no /etc/python3.*/sitecustomize.py in the python image"
printf '# replaced by app-cli\nimport sys\nsys.path.insert(0, "/opt/cli")\n' > "$sc"
rm -rf "$r/usr/share/locale"
finish app-cli "$BUILD/app-cli" "COPY cli /opt/cli; COPY sitecustomize.py; rm -rf /usr/share/locale"
log "umoci images built in $(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.0f", b - a }') s"

# ---- one OCI layout per image and variant -----------------------------------------------------------------------
names=$(cut -f1 "$BUILD/images.tsv")
mkdir -p "$OUT/gzip" "$OUT/zstd"
for name in $names; do
    log "skopeo copy $name (gzip as is, zstd recompressed) ..."
    skopeo --insecure-policy copy -q "oci:$LAYOUT:$name" "oci:$OUT/gzip/$name:latest"
    skopeo --insecure-policy copy -q --dest-compress --dest-compress-format zstd "oci:$LAYOUT:$name" "oci:$OUT/zstd/$name:latest"
done
rm -rf "$BUILD"

# Blobs that several layouts hold are hard links of one file (as in BenchData): less disk and page cache.
for variant in gzip zstd; do
    declare -A first=()
    for f in "$OUT/$variant"/*/blobs/sha256/*; do
        h=${f##*/}
        if [ -n "${first[$h]:-}" ]; then ln -f "${first[$h]}" "$f"; else first[$h]=$f; fi
    done
    unset first
done

# ---- accounting: distinct layers, tar bytes, entries ------------------------------------------------------------
python3 - "$OUT" <<'EOF'
import gzip, json, os, sys, tarfile

out = sys.argv[1]

def blob(layout, digest):
    return os.path.join(layout, "blobs", *digest.split(":", 1))

def image(layout):
    with open(os.path.join(layout, "index.json")) as f:
        index = json.load(f)
    [desc] = index["manifests"]
    with open(blob(layout, desc["digest"])) as f:
        manifest = json.load(f)
    with open(blob(layout, manifest["config"]["digest"])) as f:
        config = json.load(f)
    return manifest["layers"], config["rootfs"]["diff_ids"], config.get("history", [])

class Counter:
    def __init__(self, f):
        self.f, self.n = f, 0
    def read(self, size=-1):
        b = self.f.read(size)
        self.n += len(b)
        return b

names = sorted(os.listdir(os.path.join(out, "gzip")))
layers = {}   # diff_id -> row
order = []
images = []
for name in names:
    gz_layers, diff_ids, history = image(os.path.join(out, "gzip", name))
    zst_layers, zst_diff_ids, _ = image(os.path.join(out, "zstd", name))
    assert diff_ids == zst_diff_ids, name
    created = [h.get("created_by", "") for h in history if not h.get("empty_layer")]
    layer_names = []
    for i, (g, z, d) in enumerate(zip(gz_layers, zst_layers, diff_ids)):
        if d not in layers:
            # a layer is named after the first image (in name order) that has it as its top layer, else by index
            layers[d] = {"gz": g, "zst": z, "first_gz": blob(os.path.join(out, "gzip", name), g["digest"]),
                         "first_zst": blob(os.path.join(out, "zstd", name), z["digest"]), "name": None}
            order.append(d)
        if i == len(diff_ids) - 1 and layers[d]["name"] is None:
            layers[d]["name"] = name
        layer_names.append(d)
    images.append((name, layer_names))
for i, d in enumerate(order):
    if layers[d]["name"] is None:
        layers[d]["name"] = f"layer{i}"

for d in order:
    row = layers[d]
    with open(row["first_gz"], "rb") as raw:
        c = Counter(gzip.GzipFile(fileobj=raw))
        entries = files = 0
        with tarfile.open(fileobj=c, mode="r|") as t:
            for m in t:
                entries += 1
                # regular files, whiteouts (empty regular files named .wh.*) excluded, as layerstats counts them
                files += m.isreg() and not os.path.basename(m.name.rstrip("/")).startswith(".wh.")
        while c.read(1 << 20):
            pass
    row.update(tar=c.n, entries=entries, files=files)

with open(os.path.join(out, "layers.tsv"), "w") as f:
    f.write("layer\ttar_bytes\tentries\tfiles\tdiff_id\tgzip_digest\tgzip_bytes\tzstd_digest\tzstd_bytes\n")
    for d in order:
        r = layers[d]
        f.write(f"{r['name']}\t{r['tar']}\t{r['entries']}\t{r['files']}\t{d}\t{r['gz']['digest']}\t{r['gz']['size']}"
                f"\t{r['zst']['digest']}\t{r['zst']['size']}\n")
for variant, key in (("gzip", "first_gz"), ("zstd", "first_zst")):
    with open(os.path.join(out, f"layers-{variant}.txt"), "w") as f:
        f.writelines(layers[d][key] + "\n" for d in order)
with open(os.path.join(out, "images.txt"), "w") as f:
    f.writelines(f"{name}\t{' '.join(layers[d]['name'] for d in ds)}\n" for name, ds in images)
tar = sum(layers[d]["tar"] for d in order)
print(f"debian-images: {len(images)} images, {len(order)} distinct layers, tar {tar} bytes, "
      f"{sum(layers[d]['entries'] for d in order)} entries", file=sys.stderr)
EOF
{
    echo "suite=$SUITE mirror=$MIRROR arch=$ARCH debootstrap=$(cat "$ROOTFS/.debootstrap-done") SOURCE_DATE_EPOCH=$SOURCE_DATE_EPOCH"
} > "$OUT/source.txt"
log "done: $OUT (layers.tsv, images.txt, packages.txt)"
