#!/usr/bin/env bash
# scripts/setup.sh — prepare a Debian/Ubuntu machine for Axon development and tests.
#
#   PostgreSQL (+ pgvector), Redis, the databases `axon` and `axon_test`, and
#   poppler-utils (pdftotext, which extracts the text of PDF documents), and chromium
#   (the widget's browser test).
#
# Idempotent: every step checks first and only acts when something is missing, so a
# second run takes about a second. Run as root, or as a user with sudo.
#
# Environment (all optional):
#   PGHOST / PGPORT / PGUSER   server to prepare        (127.0.0.1 / 5432 / postgres)
#   REDIS_PORT                 local Redis port          (6379)
#   AXON_DATABASES             databases to create       ("axon axon_test")
#   PG_MAJOR                   PostgreSQL major version  (the running/installed server's)
#   AXON_SKIP_TOOLS            1: do not install stripe-mock / versitygw / chromium
set -euo pipefail

export PGHOST="${PGHOST:-127.0.0.1}"
export PGPORT="${PGPORT:-5432}"
export PGUSER="${PGUSER:-postgres}"
export PGOPTIONS="${PGOPTIONS:-} -c client_min_messages=warning"
REDIS_PORT="${REDIS_PORT:-6379}"
AXON_DATABASES="${AXON_DATABASES:-axon axon_test}"
export DEBIAN_FRONTEND=noninteractive

say()  { printf 'setup: %-10s %s\n' "$1" "$2"; }
die()  { printf 'setup: error: %s\n' "$*" >&2; exit 1; }
have() { command -v "$1" >/dev/null 2>&1; }

# --- privileges -------------------------------------------------------------------
if [ "$(id -u)" -eq 0 ]; then
	SUDO=()
elif have sudo; then
	SUDO=(sudo)
else
	SUDO=()
fi
as_root() {
	if [ "$(id -u)" -ne 0 ] && [ ${#SUDO[@]} -eq 0 ]; then
		die "need root for: $* (run as root or install sudo)"
	fi
	"${SUDO[@]}" "$@"
}
as_postgres() { # run a command as the postgres OS user (local peer authentication)
	if [ "$(id -u)" -eq 0 ]; then
		runuser -u postgres -- "$@"
	else
		sudo -u postgres "$@"
	fi
}

# Temporary files and apt sources, removed on exit whatever happens.
CLEANUP_DIRS=() CLEANUP_ROOT_FILES=()
cleanup() {
	local f
	for f in "${CLEANUP_DIRS[@]}"; do rm -rf "$f"; done
	for f in "${CLEANUP_ROOT_FILES[@]}"; do as_root rm -f "$f" || true; done
}
trap cleanup EXIT

APT_UPDATED=0
apt_refresh() {
	have apt-get || die "apt-get not found: install the packages by hand"
	if [ "$APT_UPDATED" -eq 0 ]; then
		as_root apt-get update -qq >/dev/null
		APT_UPDATED=1
	fi
}
apt_install() {
	apt_refresh
	as_root apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}
apt_has() { apt-cache show "$1" >/dev/null 2>&1; }

redis_ping() { # PING over bash's /dev/tcp: works without redis-cli (e.g. Redis in compose)
	local reply=""
	{
		exec 3<>"/dev/tcp/127.0.0.1/$REDIS_PORT" &&
			printf 'PING\r\n' >&3 &&
			IFS= read -r -t 2 reply <&3
		exec 3>&- 3<&-
	} 2>/dev/null || true
	[ "${reply%$'\r'}" = "+PONG" ]
}
pg_ready() { have pg_isready && pg_isready -q -h "$PGHOST" -p "$PGPORT" -t 2; }
psql_q()   { psql -X -w -q -v ON_ERROR_STOP=1 -At "$@"; }

# Highest PostgreSQL major version with a server binary installed on this machine.
local_pg_major() {
	local d v best=""
	for d in /usr/lib/postgresql/*/bin/postgres; do
		[ -x "$d" ] || continue
		v="${d#/usr/lib/postgresql/}"
		v="${v%%/*}"
		if [ -z "$best" ] || [ "$v" -gt "$best" ]; then best="$v"; fi
	done
	printf '%s' "$best"
}

# --- 1. PostgreSQL ------------------------------------------------------------------
if pg_ready; then
	say postgres "ok (accepting connections on $PGHOST:$PGPORT)"
else
	if [ -z "$(local_pg_major)" ]; then
		say postgres "installing postgresql (apt)"
		apt_install postgresql postgresql-contrib
	fi
	have pg_isready || apt_install postgresql-client
	major="${PG_MAJOR:-$(local_pg_major)}"
	[ -n "$major" ] || die "no PostgreSQL server found under /usr/lib/postgresql after install"
	if ! have pg_lsclusters || [ -z "$(pg_lsclusters -h 2>/dev/null | awk -v v="$major" '$1 == v')" ]; then
		say postgres "creating cluster $major/main"
		as_root pg_createcluster "$major" main >/dev/null
	fi
	# The cluster of that version listening on $PGPORT, else its first cluster.
	cluster="$(pg_lsclusters -h | awk -v v="$major" -v p="$PGPORT" '
		$1 == v && $3 == p { print $2; found = 1; exit }
		$1 == v && first == "" { first = $2 }
		END { if (!found) print first }')"
	say postgres "starting cluster $major/$cluster"
	as_root pg_ctlcluster --skip-systemctl-redirect "$major" "$cluster" start >/dev/null 2>&1 ||
		as_root service postgresql start >/dev/null 2>&1 || true
	for _ in $(seq 1 30); do pg_ready && break; sleep 0.5; done
	pg_ready || die "PostgreSQL does not accept connections on $PGHOST:$PGPORT (see /var/log/postgresql/)"
	say postgres "started"
fi
have psql || apt_install postgresql-client

# A fresh Debian cluster asks for a password on TCP; the project's URLs have none
# (postgres://postgres@127.0.0.1). For a local cluster, trust loopback connections —
# the same as POSTGRES_HOST_AUTH_METHOD=trust in compose.yaml.
info_sql="select current_setting('server_version_num')::int / 10000,
	(select count(*) from pg_available_extensions where name = 'vector'),
	(select string_agg(datname, ' ') from pg_database)"
if ! err="$(psql_q -d postgres -c 'select 1' 2>&1 >/dev/null)"; then
	case "$err" in
	*password*|*authentication*)
		[ -n "$(local_pg_major)" ] || die "cannot log in as $PGUSER on $PGHOST:$PGPORT: $err"
		hba="$(as_postgres env -u PGHOST psql -X -w -At -c 'show hba_file')"
		say postgres "trusting loopback TCP logins in $hba (development machine)"
		tmp="$(mktemp)"
		{
			echo '# added by axon scripts/setup.sh: local development, trust loopback TCP logins'
			echo 'host all all 127.0.0.1/32 trust'
			echo 'host all all ::1/128 trust'
			as_root cat "$hba"
		} >"$tmp"
		as_root cp "$tmp" "$hba"
		rm -f "$tmp"
		as_postgres env -u PGHOST psql -X -w -q -At -c 'select pg_reload_conf()' >/dev/null
		sleep 0.5
		psql_q -d postgres -c 'select 1' >/dev/null || die "still cannot log in as $PGUSER on $PGHOST:$PGPORT"
		;;
	*) die "cannot connect to PostgreSQL on $PGHOST:$PGPORT: $err" ;;
	esac
fi

# --- 2. Redis -----------------------------------------------------------------------
if redis_ping; then
	say redis "ok (PONG on 127.0.0.1:$REDIS_PORT)"
else
	if ! have redis-server; then
		say redis "installing redis-server (apt)"
		apt_install redis-server redis-tools
	fi
	# apt may have started it through systemd already.
	if ! redis_ping; then
		if [ "$(id -u)" -eq 0 ]; then
			rdir=/var/lib/redis rlog=/var/log/redis/axon-redis-$REDIS_PORT.log
		else
			rdir="${XDG_STATE_HOME:-$HOME/.local/state}/axon/redis" rlog="$rdir/redis-$REDIS_PORT.log"
		fi
		mkdir -p "$rdir" "$(dirname "$rlog")"
		say redis "starting redis-server on 127.0.0.1:$REDIS_PORT (log $rlog)"
		redis-server --daemonize yes --bind 127.0.0.1 -::1 --port "$REDIS_PORT" \
			--save "" --appendonly no --dir "$rdir" --logfile "$rlog" >/dev/null
		for _ in $(seq 1 20); do
			redis_ping && break
			sleep 0.25
		done
	fi
	redis_ping || die "Redis does not answer on 127.0.0.1:$REDIS_PORT (see ${rlog:-its log})"
	say redis "started"
fi

# --- 3. pgvector --------------------------------------------------------------------
info="$(psql_q -d postgres -c "$info_sql")" || die "cannot query PostgreSQL on $PGHOST:$PGPORT"
IFS='|' read -r server_major vector_available existing <<<"$info"
major="${PG_MAJOR:-$server_major}"
pgc="/usr/lib/postgresql/$major/bin/pg_config"

install_pgvector() {
	# 1) packaged: Ubuntu, or Debian with the PGDG repository.
	apt_refresh
	if apt_has "postgresql-$major-pgvector"; then
		say pgvector "installing postgresql-$major-pgvector (apt)"
		apt_install "postgresql-$major-pgvector"
		return
	fi

	# 2) Debian bookworm has no pgvector package: build Debian trixie's source package.
	#    Only a deb-src line is added (no binary trixie entry), so apt cannot upgrade or
	#    install anything from trixie; the file is removed again on exit.
	say pgvector "building from Debian trixie source package (takes about 15 s)"
	apt_install "postgresql-server-dev-$major" build-essential
	local src=/etc/apt/sources.list.d/axon-pgvector-src.list keyring="" work orig
	[ -r /usr/share/keyrings/debian-archive-keyring.gpg ] &&
		keyring="[signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] "
	CLEANUP_ROOT_FILES+=("$src")
	echo "deb-src ${keyring}http://deb.debian.org/debian trixie main" | as_root tee "$src" >/dev/null
	# Refresh this one source only; the other lists stay as they are.
	as_root apt-get update -qq -o Dir::Etc::sourcelist="$src" -o Dir::Etc::sourceparts=- \
		-o APT::Get::List-Cleanup=0 >/dev/null

	work="$(mktemp -d)"
	CLEANUP_DIRS+=("$work")
	chmod 755 "$work"
	# apt downloads as the _apt user when it can write there (no "unsandboxed" warning).
	if [ "$(id -u)" -eq 0 ] && id _apt >/dev/null 2>&1; then chown _apt "$work"; fi
	(cd "$work" && apt-get source -qq --download-only pgvector >/dev/null 2>&1) ||
		die "apt-get source pgvector failed (is deb.debian.org reachable?)"
	orig="$(find "$work" -maxdepth 1 -name 'pgvector_*.orig.tar.*' | head -n1)"
	[ -n "$orig" ] || die "no pgvector .orig tarball in $work"
	mkdir "$work/build"
	tar -xf "$orig" -C "$work/build" --strip-components=1
	say pgvector "compiling $(basename "$orig")"
	make -s -C "$work/build" OPTFLAGS="" PG_CONFIG="$pgc" >"$work/build.log" 2>&1 ||
		die "pgvector build failed: $(tail -n 5 "$work/build.log")"
	as_root make -s -C "$work/build" install PG_CONFIG="$pgc" >/dev/null
}

control=""
[ -x "$pgc" ] && control="$("$pgc" --sharedir)/extension/vector.control"
if [ "$vector_available" -gt 0 ]; then
	say pgvector "ok (available on PostgreSQL $server_major)"
else
	[ -x "/usr/lib/postgresql/$major/bin/postgres" ] ||
		die "PostgreSQL $major on $PGHOST:$PGPORT lacks pgvector and is not installed on this machine; install pgvector on that server"
	if [ -n "$control" ] && [ -f "$control" ]; then
		die "$control exists but PostgreSQL on $PGHOST:$PGPORT does not list the extension (different server? set PGHOST/PGPORT or PG_MAJOR)"
	fi
	install_pgvector
	control="$("$pgc" --sharedir)/extension/vector.control"
	[ -f "$control" ] || die "pgvector install finished but $control is missing"
	say pgvector "installed $(sed -n "s/^default_version = '\(.*\)'/\1/p" "$control") into $(dirname "$control")"
fi

# --- 4. databases -------------------------------------------------------------------
for db in $AXON_DATABASES; do
	if [[ " $existing " == *" $db "* ]]; then
		state="exists"
	else
		psql_q -d postgres -c "create database \"$db\" owner postgres" >/dev/null
		state="created"
	fi
	out="$(psql_q -d "$db" -c 'create extension if not exists vector' \
		-c "select extversion from pg_extension where extname = 'vector'" 2>&1)" ||
		die "database $db: CREATE EXTENSION vector failed: $out"
	say database "$db $state, extension vector $out"
done

# --- 5. poppler-utils ---------------------------------------------------------------
# pdftotext extracts PDF text in the ingestion worker's extraction child
# (docs/decisions.md, "PDF text: Poppler's pdftotext").
if have pdftotext; then
	say poppler "ok ($(pdftotext -v 2>&1 | head -n1))"
else
	say poppler "installing poppler-utils (apt)"
	apt_install poppler-utils
	have pdftotext || die "poppler-utils installed but pdftotext is not on PATH"
	say poppler "installed ($(pdftotext -v 2>&1 | head -n1))"
fi

# --- 6. chromium ----------------------------------------------------------------------
# Debian's chromium drives the widget's real-browser test (modules/channels,
# TestWidgetInBrowser, through chromedp); `make test` and CI require it.
# AXON_SKIP_TOOLS=1 leaves it out too.
if [ "${AXON_SKIP_TOOLS:-}" = "1" ]; then
	say chromium "skipped (AXON_SKIP_TOOLS=1)"
elif have chromium || have chromium-browser; then
	say chromium "ok"
else
	say chromium "installing chromium (apt)"
	apt_install chromium
	have chromium || die "chromium installed but not on PATH"
	say chromium "installed ($(chromium --version 2>/dev/null | head -n1))"
fi

# --- 7. test servers ----------------------------------------------------------------
# stripe-mock and versitygw, so that the Stripe and S3 signature tests run instead of
# skipping (`make test` requires them). AXON_SKIP_TOOLS=1 leaves this step out.
if [ "${AXON_SKIP_TOOLS:-}" = "1" ]; then
	say tools "skipped (AXON_SKIP_TOOLS=1)"
else
	bash "$(dirname "${BASH_SOURCE[0]}")/test-tools.sh"
fi
