#!/usr/bin/env bash
# Renders docs/img/reply-{data,infra,code}.png: `etl-triage preview` of three bundled example failures,
# screenshotted by headless Chromium. The examples are laid out where the default topology.toml looks
# (/var/log/etl, /data, /srv/etl-jobs) inside a private mount namespace, so the pictures show the paths a
# real install shows and the host is left untouched. Needs root (unshare -m), git and chromium.
#   usage: sudo docs/img/render.sh            (from the repository root, after pip install -e .)
set -euo pipefail
if [[ "${1:-}" != "--inside" ]]; then
  exec unshare -m --propagation private "$0" --inside
fi
repo=$(pwd)
bin="$repo/.venv/bin"
for d in /var/log /data /srv; do mkdir -p "$d" && mount -t tmpfs tmpfs "$d"; done
mkdir -p /var/log/etl /srv/etl-jobs
cp -r examples/logs/. /var/log/etl/
cp -r examples/data/. /data/
"$bin/python" -c 'import pathlib, bot.demo as d; d.build_repo(pathlib.Path("examples/repo.toml"), pathlib.Path("/srv/etl-jobs"))'
shot() {  # name job poster alert height
  local html="/tmp/reply-$1.html"
  "$bin/etl-triage" preview --job "$2" --state report --alert-from "$3" --alert "$4" --out "$html" >/dev/null
  chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --user-data-dir=/tmp/chromium-render \
    --window-size=860,"$5" --screenshot="docs/img/reply-$1.png" "file://$html" 2>/dev/null
}
shot data orders_daily Airflow \
  ':red_circle: Task failed: *orders_daily* · load_orders · run `scheduled__2026-11-20T02:00:00`' 960
shot infra customer_sync Datadog ':red_circle: Spark job *customer_sync* failed (exit code 1) on yarn-prod' 1130
shot code revenue_rollup 'dbt Cloud' ':red_circle: Job *revenue_rollup* failed · model `revenue_rollup`' 890
ls -l docs/img/*.png
