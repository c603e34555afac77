#!/bin/sh
# Vendor the dashboard's front-end packages from node_modules (run `npm ci` first).
#
# Files are stored gzip-compressed (served as-is with Content-Encoding: gzip) so the
# committed copy stays small and a fresh checkout needs neither npm nor a CDN.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
nm="$root/node_modules"
out="$root/src/sitewatch/web/static/vendor"

[ -d "$nm" ] || { echo "build-web: $nm missing; run 'npm ci' in $root first" >&2; exit 1; }
rm -rf "$out"
mkdir -p "$out"

vendor() {  # vendor SRC NAME: gzip node_modules/SRC to vendor/NAME.gz
    gzip -9 -n -c "$nm/$1" > "$out/$2.gz"
}
vendor leaflet/dist/leaflet-src.esm.js leaflet.esm.js
vendor leaflet/dist/leaflet.css leaflet.css
vendor uplot/dist/uPlot.esm.js uPlot.esm.js
vendor uplot/dist/uPlot.min.css uPlot.min.css
vendor swagger-ui-dist/swagger-ui-bundle.js swagger-ui-bundle.js
vendor swagger-ui-dist/swagger-ui.css swagger-ui.css
vendor swagger-ui-dist/favicon-32x32.png swagger-favicon.png

# Licences travel with the code they cover.
for pkg in leaflet uplot swagger-ui-dist; do
    cp "$nm/$pkg/LICENSE" "$out/LICENSE.$pkg"
done
node -e 'const p=require(process.argv[1]);console.log(JSON.stringify(Object.fromEntries(["leaflet","uplot","swagger-ui-dist"].map(n=>[n,require(process.argv[2]+"/"+n+"/package.json").version])),null,1))' \
    "$root/package.json" "$nm" > "$out/versions.json"
du -ch "$out" | tail -1
