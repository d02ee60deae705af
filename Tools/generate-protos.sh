#!/usr/bin/env bash
# Regenerates the Swift code for Longrun's protos into Sources/LongrunProto/Generated/.
#
#   Tools/generate-protos.sh           regenerate (only changed files are rewritten)
#   Tools/generate-protos.sh --check   regenerate into a temporary folder and compare with the
#                                      committed files; exit 1 if they differ (for CI)
#
# What is generated (one file per proto and plugin, named after the proto's path):
#   messages (protoc-gen-swift):          google/rpc/{status,code,error_details}.proto,
#                                         google/longrunning/operations.proto, longrun/v1/*.proto,
#                                         grpc/health/v1/health.proto, grpc/reflection/{v1,v1alpha}/reflection.proto
#   gRPC client+server (protoc-gen-grpc-swift-2): google/longrunning/operations.proto, the
#                                         longrun/v1 protos that declare services, health, reflection
#   nothing for google/api/*.proto: they only declare options and are needed for imports.
#   LongrunDescriptors.swift: every proto above and its imports as one serialized
#                                         FileDescriptorSet (protoc --include_imports), base64, for
#                                         server reflection (LongrunServer/ReflectionService.swift).
# The well-known types (Any, Duration, Empty, Timestamp, descriptor) come from the SwiftProtobuf
# runtime and are not generated.
#
# Needs: protoc (Debian: apt-get install -y protobuf-compiler) and a Swift toolchain. The two
# plugins are built from Tools/protoc-plugins (a package with no code of its own) into
# Tools/protoc-plugins/.build; the first build takes a few minutes, later runs reuse it.
set -euo pipefail

usage() {
    sed -n '2,7p' "$0" | sed 's/^# \{0,1\}//'
}

check=0
for arg in "$@"; do
    case "$arg" in
        --check) check=1 ;;
        -h|--help) usage; exit 0 ;;
        *) echo "generate-protos: unknown argument '$arg'" >&2; usage >&2; exit 2 ;;
    esac
done

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
protos="$root/Protos"
out="$root/Sources/LongrunProto/Generated"
plugins_pkg="$root/Tools/protoc-plugins"
scratch="$plugins_pkg/.build"

# Stable output whatever the caller's locale.
export LC_ALL=C

# --- protoc and the well-known types ------------------------------------------------------------
if ! command -v protoc >/dev/null 2>&1; then
    echo "generate-protos: protoc not found. Install it with: apt-get install -y protobuf-compiler" >&2
    exit 1
fi
wkt_include="${PROTOC_INCLUDE:-$(cd "$(dirname "$(command -v protoc)")/.." && pwd)/include}"
if [ ! -f "$wkt_include/google/protobuf/any.proto" ]; then
    for candidate in /usr/include /usr/local/include; do
        if [ -f "$candidate/google/protobuf/any.proto" ]; then wkt_include="$candidate"; break; fi
    done
fi
if [ ! -f "$wkt_include/google/protobuf/any.proto" ]; then
    echo "generate-protos: the protobuf well-known types (google/protobuf/any.proto) were not found." >&2
    echo "  Install them with: apt-get install -y protobuf-compiler (or set PROTOC_INCLUDE)" >&2
    exit 1
fi
if ! command -v swift >/dev/null 2>&1; then
    echo "generate-protos: swift not found on PATH" >&2
    exit 1
fi

# --- the plugins --------------------------------------------------------------------------------
echo "generate-protos: building the protoc plugins (Tools/protoc-plugins, release)" >&2
for product in protoc-gen-swift protoc-gen-grpc-swift-2; do
    swift build -c release --package-path "$plugins_pkg" --scratch-path "$scratch" \
        --product "$product" >&2
done
bin="$(swift build -c release --package-path "$plugins_pkg" --scratch-path "$scratch" --show-bin-path)"
for product in protoc-gen-swift protoc-gen-grpc-swift-2; do
    if [ ! -x "$bin/$product" ]; then
        echo "generate-protos: $bin/$product was not built" >&2
        exit 1
    fi
done

# --- the inputs ---------------------------------------------------------------------------------
cd "$protos"
longrun_protos=()
while IFS= read -r f; do longrun_protos+=("$f"); done < <(find longrun -name '*.proto' | sort)
if [ "${#longrun_protos[@]}" -eq 0 ]; then
    echo "generate-protos: no protos under Protos/longrun" >&2
    exit 1
fi
message_protos=(
    google/longrunning/operations.proto
    google/rpc/code.proto
    google/rpc/error_details.proto
    google/rpc/status.proto
    grpc/health/v1/health.proto
    grpc/reflection/v1/reflection.proto
    grpc/reflection/v1alpha/reflection.proto
    "${longrun_protos[@]}"
)
service_protos=(
    google/longrunning/operations.proto
    grpc/health/v1/health.proto
    grpc/reflection/v1/reflection.proto
    grpc/reflection/v1alpha/reflection.proto
)
for f in "${longrun_protos[@]}"; do
    if grep -Eq '^[[:space:]]*service[[:space:]]' "$f"; then service_protos+=("$f"); fi
done

# --- generate into a temporary folder -----------------------------------------------------------
tmp="$(mktemp -d "${TMPDIR:-/tmp}/longrun-protos.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/gen"

protoc --version >&2
protoc -I "$protos" -I "$wkt_include" \
    --plugin="protoc-gen-swift=$bin/protoc-gen-swift" \
    --swift_out="$tmp/gen" \
    --swift_opt=Visibility=Public \
    --swift_opt=FileNaming=PathToUnderscores \
    --swift_opt=UseAccessLevelOnImports=true \
    "${message_protos[@]}"
protoc -I "$protos" -I "$wkt_include" \
    --plugin="protoc-gen-grpc-swift-2=$bin/protoc-gen-grpc-swift-2" \
    --grpc-swift-2_out="$tmp/gen" \
    --grpc-swift-2_opt=Visibility=Public \
    --grpc-swift-2_opt=Server=true \
    --grpc-swift-2_opt=Client=true \
    --grpc-swift-2_opt=FileNaming=PathToUnderscores \
    --grpc-swift-2_opt=UseAccessLevelOnImports=true \
    "${service_protos[@]}"

# The descriptors server reflection hands out: what protoc parsed, with every import and without
# source info (no comments). Base64 in one multi-line string literal keeps the Swift file small
# and quick to compile.
protoc -I "$protos" -I "$wkt_include" --include_imports --descriptor_set_out="$tmp/descriptors.pb" \
    "${message_protos[@]}"
{
    cat <<'SWIFT'
// DO NOT EDIT.
// Generated by Tools/generate-protos.sh from Protos/.
//
// Every proto of LongrunProto and its imports as one serialized google.protobuf.FileDescriptorSet
// (protoc --include_imports, without source info), base64-encoded.

/// The descriptors of the protos the daemon serves, for server reflection.
public enum LongrunDescriptors {
    /// A serialized `google.protobuf.FileDescriptorSet`, base64 in lines of 76 characters.
    public static let fileDescriptorSetBase64 = """
SWIFT
    base64 -w 76 "$tmp/descriptors.pb" | sed 's/^/        /'
    cat <<'SWIFT'
        """
}
SWIFT
} >"$tmp/gen/LongrunDescriptors.swift"

# --- compare or install -------------------------------------------------------------------------
if [ "$check" -eq 1 ]; then
    mkdir -p "$tmp/committed"
    if [ -d "$out" ]; then
        find "$out" -maxdepth 1 -name '*.swift' -exec cp {} "$tmp/committed/" \;
    fi
    if ! diff -ru "$tmp/committed" "$tmp/gen" >"$tmp/diff"; then
        cat "$tmp/diff" >&2
        echo "generate-protos: Sources/LongrunProto/Generated is out of date with Protos/." >&2
        echo "  Run Tools/generate-protos.sh and commit the result." >&2
        exit 1
    fi
    echo "generate-protos: Sources/LongrunProto/Generated is up to date." >&2
    exit 0
fi

mkdir -p "$out"
changed=0
# Copy new or changed files only, so unchanged files keep their timestamps (no needless rebuilds).
for f in "$tmp/gen"/*.swift; do
    name="$(basename "$f")"
    if ! cmp -s "$f" "$out/$name"; then
        cp "$f" "$out/$name"
        echo "  wrote   Generated/$name" >&2
        changed=$((changed + 1))
    fi
done
# Remove generated files whose proto is gone.
for f in "$out"/*.swift; do
    [ -e "$f" ] || continue
    name="$(basename "$f")"
    if [ ! -e "$tmp/gen/$name" ]; then
        rm "$f"
        echo "  removed Generated/$name" >&2
        changed=$((changed + 1))
    fi
done
echo "generate-protos: $changed file(s) changed in Sources/LongrunProto/Generated" >&2
