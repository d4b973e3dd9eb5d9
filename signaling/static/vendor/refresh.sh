#!/bin/sh
# Re-fetches the vendored browser libraries listed in packages.txt (pinned npm versions) and copies or bundles
# what each line names into this folder. Needs npm and the npm registry; run it from anywhere:
#   sh signaling/static/vendor/refresh.sh
# then review `git diff --stat signaling/static/vendor` and commit. Generic: a new library is a new line in
# packages.txt (package@version, a file of the package or bundle:<module>, the destination).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
list=$(grep -v '^[[:space:]]*#' "$here/packages.txt" | grep -v '^[[:space:]]*$')

# every package of the list, at its pinned version, into one throw-away npm project
specs=$(printf '%s\n' "$list" | awk '{print $1}' | sort -u)
(cd "$work" && npm init -y >/dev/null && npm install --no-audit --no-fund --save-exact $specs >/dev/null)

printf '%s\n' "$list" | while read -r spec what dest; do
    [ "$what" = tool ] && continue
    pkg=${spec%@*}
    version=${spec##*@}
    got=$(node -p "require('$work/node_modules/$pkg/package.json').version")
    [ "$got" = "$version" ] || { echo "$pkg: wanted $version, npm gave $got" >&2; exit 1; }
    mkdir -p "$(dirname "$here/$dest")"
    case "$what" in
        bundle:*)
            module=${what#bundle:}
            printf 'export * from "%s";\n' "$module" > "$work/entry-$pkg.mjs"
            "$work/node_modules/.bin/esbuild" "$work/entry-$pkg.mjs" --bundle --format=esm --minify \
                --legal-comments=none --outfile="$here/$dest" --log-level=warning
            # the bundle says what it is, for whoever reads the file
            { printf '// %s %s (%s), bundled by signaling/static/vendor/refresh.sh; licence: see this folder\n' \
                "$pkg" "$version" "$what"; cat "$here/$dest"; } > "$work/out" && mv "$work/out" "$here/$dest"
            ;;
        *)
            cp "$work/node_modules/$pkg/$what" "$here/$dest"
            ;;
    esac
    echo "$spec $what -> $dest"
done
