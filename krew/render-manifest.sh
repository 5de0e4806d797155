#!/usr/bin/env bash
# Render krew/mesh.yaml from krew/.krew.yaml for a release: VERSION and a directory holding the release archives
# (kubectl-mesh_VERSION_OS_ARCH.tar.gz / .zip). Checksums are computed from the archives themselves.
# Used by the release workflow and for local testing:
#   kubectl krew install --manifest=krew/mesh.yaml --archive=dist/kubectl-mesh_v0.1.0_linux_amd64.tar.gz
set -euo pipefail
version=${1:?usage: render-manifest.sh VERSION DIST_DIR}
dist=${2:?usage: render-manifest.sh VERSION DIST_DIR}
here=$(cd "$(dirname "$0")" && pwd)
out=$(sed "s/{{ .TagName }}/${version}/g" "$here/.krew.yaml" | grep -v '^#')
while IFS= read -r line; do
  if [[ $line =~ ^([[:space:]]*)\{\{addURIAndSha\ \"([^\"]+)\"\ \.TagName\ \}\}$ ]]; then
    indent=${BASH_REMATCH[1]}
    uri=${BASH_REMATCH[2]}
    file="$dist/${uri##*/}"
    [ -f "$file" ] || { echo "missing archive $file" >&2; exit 1; }
    sum=$(sha256sum "$file" | cut -d' ' -f1)
    printf '%suri: %s\n%ssha256: "%s"\n' "$indent" "$uri" "$indent" "$sum"
  else
    printf '%s\n' "$line"
  fi
done <<< "$out"
