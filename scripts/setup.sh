# Shared set-up for scripts/serve and scripts/test, sourced, never run.
# Installs what a brand-new machine lacks, and only that: every step checks
# first, so running it again is quick and changes nothing.

# Runs a command as root (CI and these machines run as root; sudo elsewhere).
as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

apt_updated=""
apt_install() {
    if [ -z "$apt_updated" ]; then
        echo "==> apt-get update"
        as_root apt-get update -qq
        apt_updated=1
    fi
    echo "==> apt-get install $*"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

# protoc: the MACP runtime crate's build script needs it.
ensure_protoc() {
    command -v protoc >/dev/null 2>&1 || apt_install protobuf-compiler
}

# Debian's Chromium: the test that renders /docs headless.
ensure_chromium() {
    [ -x /usr/bin/chromium ] || apt_install chromium
}

# PostgreSQL from Debian's packages, started, with a superuser role `macp`
# (password `macp`) for the tests. Exports TEST_DATABASE_URL.
ensure_postgres() {
    if ! command -v pg_lsclusters >/dev/null 2>&1 || [ -z "$(pg_lsclusters --no-header 2>/dev/null)" ]; then
        apt_install postgresql
    fi
    if [ -z "$(pg_lsclusters --no-header 2>/dev/null)" ]; then
        version=$(ls /usr/lib/postgresql | sort -V | tail -n 1)
        as_root pg_createcluster "$version" main
    fi
    read -r version cluster port status _ < <(pg_lsclusters --no-header | head -n 1)
    if [ "$status" != "online" ]; then
        echo "==> starting PostgreSQL $version/$cluster on port $port"
        as_root pg_ctlcluster "$version" "$cluster" start
    fi
    for _ in $(seq 1 30); do
        pg_isready -q -h 127.0.0.1 -p "$port" && break
        sleep 1
    done
    as_root su postgres -c "psql -p $port -tAc \"SELECT 1 FROM pg_roles WHERE rolname = 'macp'\"" | grep -q 1 \
        || as_root su postgres -c "psql -p $port -qc \"CREATE ROLE macp LOGIN SUPERUSER PASSWORD 'macp'\""
    export TEST_DATABASE_URL="postgres://macp:macp@127.0.0.1:$port/postgres"
    echo "==> PostgreSQL ready: postgres://macp:***@127.0.0.1:$port/postgres"
}

# Free space where the build goes, and what target/ takes: the debug build
# of every target needs about 2 GB (BENCHMARKS.md, "Disk"); a full disk
# shows up as a compile error otherwise.
report_disk() {
    local free used
    free=$(df -Pk . | awk 'NR == 2 { printf "%.1f", $4 / 1048576 }')
    used=0.0
    if [ -d target ]; then
        used=$(du -sk target | awk '{ printf "%.1f", $1 / 1048576 }')
    fi
    echo "==> disk: ${free} GB free here, target/ takes ${used} GB"
}
