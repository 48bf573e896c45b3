#!/bin/sh
# Installs kite and runs it as a service, as K3s's installer does:
#
#   curl -sfL https://github.com/kite-project/kite/releases/latest/download/install.sh | sh -
#   curl -sfL …/install.sh | KITE_URL=https://SERVER:6443 KITE_TOKEN=… sh -     # an agent
#
# Environment (all optional):
#   INSTALL_KITE_DOWNLOAD_URL  release folder (URL or local path) holding
#                              kite-<arch>.gz, kite-killall.sh and
#                              sha256sum-<arch>.txt (scripts/release makes it)
#   INSTALL_KITE_VERSION       a release tag (default: the latest)
#   INSTALL_KITE_SKIP_DOWNLOAD=true  use the kite already in the bin dir
#   INSTALL_KITE_BIN_DIR       where kite goes (default /usr/local/bin)
#   INSTALL_KITE_SYSTEMD_DIR   where the unit goes (default /etc/systemd/system)
#   INSTALL_KITE_SYMLINK       kubectl/crictl/ctr links: skip, force, or
#                              (default) only where no such command exists
#   INSTALL_KITE_EXEC          the command and flags: "server …", "agent …",
#                              or flags only (server, or agent if KITE_URL is set)
#   INSTALL_KITE_NAME          service name suffix: kite-NAME (default kite,
#                              or kite-agent for an agent)
#   INSTALL_KITE_SKIP_ENABLE=true, INSTALL_KITE_SKIP_START=true
#   INSTALL_KITE_INIT          systemd or openrc (default: the one running)
#   INSTALL_KITE_OPENRC_DIR    where the OpenRC script goes (default
#                              /etc/init.d; its settings go to ../conf.d)
#   KITE_URL, KITE_TOKEN, KITE_TOKEN_FILE, KITE_* …  written to the
#                              service's environment file (mode 0600)
#
# Every check (root, architecture, download, checksum) is made before
# anything is changed; a failure is one line on stderr and exit status 1.
# Running it again upgrades kite in place; /etc/kite and the data dir are
# kept. kite-uninstall.sh (or kite-agent-uninstall.sh) removes what it
# installed, and nothing else.
set -eu

RELEASES=https://github.com/kite-project/kite/releases

fatal() {
	echo "install.sh: error: $*" >&2
	exit 1
}
info() { echo "install.sh: $*"; }

setup() {
	[ "$(id -u)" = 0 ] || fatal "run as root (curl … | sudo sh -)"
	case $(uname -m) in
	x86_64 | amd64) ARCH=amd64 ;;
	aarch64 | arm64) ARCH=arm64 ;;
	*) fatal "unsupported architecture $(uname -m): kite is released for amd64 and arm64" ;;
	esac
	BIN_DIR=${INSTALL_KITE_BIN_DIR:-/usr/local/bin}
	SYSTEMD_DIR=${INSTALL_KITE_SYSTEMD_DIR:-/etc/systemd/system}

	EXEC=${INSTALL_KITE_EXEC:-}
	case $EXEC in
	server | server\ * | agent | agent\ *) ;;
	"" | -*)
		if [ -n "${KITE_URL:-}" ]; then EXEC="agent $EXEC"; else EXEC="server $EXEC"; fi
		;;
	*) fatal "INSTALL_KITE_EXEC must start with server, agent or a flag, not '$EXEC'" ;;
	esac
	COMMAND=${EXEC%% *}
	if [ "$COMMAND" = agent ]; then
		[ -n "${KITE_URL:-}" ] || case $EXEC in *--server*) ;; *) fatal "an agent needs KITE_URL=https://SERVER:6443" ;; esac
		[ -n "${KITE_TOKEN:-}${KITE_TOKEN_FILE:-}" ] || case $EXEC in *--token*) ;; *) fatal "an agent needs KITE_TOKEN or KITE_TOKEN_FILE (the server's <data-dir>/server/token)" ;; esac
		NAME=${INSTALL_KITE_NAME:+kite-$INSTALL_KITE_NAME}
		NAME=${NAME:-kite-agent}
	else
		NAME=${INSTALL_KITE_NAME:+kite-$INSTALL_KITE_NAME}
		NAME=${NAME:-kite}
	fi
	# The data dir, for kite-killall.sh in the uninstall script.
	DATA_DIR=$(echo " $EXEC " | sed -n 's/.* \(--data-dir\|-d\)[= ]\([^ ]*\) .*/\2/p')
	DATA_DIR=${DATA_DIR:-/var/lib/kite}
	UNINSTALL=$BIN_DIR/$NAME-uninstall.sh
	KILLALL=$BIN_DIR/kite-killall.sh
	OPENRC_DIR=${INSTALL_KITE_OPENRC_DIR:-/etc/init.d}
	case ${INSTALL_KITE_INIT:-} in
	systemd | openrc) INIT=$INSTALL_KITE_INIT ;;
	"") INIT= ;;
	*) fatal "INSTALL_KITE_INIT must be systemd or openrc, not '$INSTALL_KITE_INIT'" ;;
	esac
	if [ -n "$INIT" ]; then
		:
	elif [ -d /run/systemd/system ] || [ -n "${INSTALL_KITE_SYSTEMD_DIR:-}" ]; then
		INIT=systemd
	elif command -v openrc-run >/dev/null 2>&1; then
		INIT=openrc
	else
		INIT=systemd # written for a later boot with systemd; not started
	fi
	TMP=$(mktemp -d)
	trap 'rm -rf "$TMP"' EXIT
}

# fetch NAME DEST: a file of the release folder (URL or local path).
fetch() {
	case $BASE in
	http://* | https://*)
		curl -fsSL -o "$2" "$BASE/$1" || fatal "cannot download $BASE/$1"
		;;
	*) cp "$BASE/$1" "$2" 2>/dev/null || fatal "no $1 in $BASE" ;;
	esac
}

# check NAME FILE: FILE's sha256 is the one sha256sum-<arch>.txt gives NAME.
check() {
	want=$(awk -v f="$1" '$2 == f || $2 == "*" f {print $1}' "$TMP/sha256sum")
	[ -n "$want" ] || fatal "sha256sum-$ARCH.txt has no line for $1"
	got=$(sha256sum "$2" | awk '{print $1}')
	[ "$got" = "$want" ] || fatal "checksum mismatch for $1: got $got, want $want; nothing was installed"
}

download() {
	if [ "${INSTALL_KITE_SKIP_DOWNLOAD:-}" = true ]; then
		[ -x "$BIN_DIR/kite" ] || fatal "INSTALL_KITE_SKIP_DOWNLOAD=true, but there is no $BIN_DIR/kite"
		return
	fi
	if [ -n "${INSTALL_KITE_DOWNLOAD_URL:-}" ]; then
		BASE=${INSTALL_KITE_DOWNLOAD_URL%/}
	elif [ -n "${INSTALL_KITE_VERSION:-}" ]; then
		BASE=$RELEASES/download/$INSTALL_KITE_VERSION
	else
		BASE=$RELEASES/latest/download
	fi
	info "downloading kite for $ARCH from $BASE"
	fetch "sha256sum-$ARCH.txt" "$TMP/sha256sum"
	fetch "kite-$ARCH.gz" "$TMP/kite.gz"
	fetch kite-killall.sh "$TMP/kite-killall.sh"
	check "kite-$ARCH.gz" "$TMP/kite.gz"
	check kite-killall.sh "$TMP/kite-killall.sh"
	gzip -dc "$TMP/kite.gz" >"$TMP/kite" || fatal "kite-$ARCH.gz does not unpack"
	chmod 755 "$TMP/kite" "$TMP/kite-killall.sh"
	"$TMP/kite" --version >/dev/null 2>&1 || fatal "the downloaded kite does not run on this machine"
}

# install_file SRC DEST: replace DEST atomically (a running kite keeps its
# old file open).
install_file() {
	cp "$1" "$2.tmp"
	mv -f "$2.tmp" "$2"
}

install_binaries() {
	mkdir -p "$BIN_DIR"
	if [ "${INSTALL_KITE_SKIP_DOWNLOAD:-}" != true ]; then
		install_file "$TMP/kite" "$BIN_DIR/kite"
		install_file "$TMP/kite-killall.sh" "$KILLALL"
		info "installed $BIN_DIR/kite ($("$BIN_DIR/kite" --version | head -1))"
	fi
	LINKS=""
	for cmd in kubectl crictl ctr; do
		link=$BIN_DIR/$cmd
		case ${INSTALL_KITE_SYMLINK:-} in
		skip) continue ;;
		force) ;;
		*)
			if [ -L "$link" ] && [ "$(readlink "$link")" = "$BIN_DIR/kite" ]; then
				LINKS="$LINKS $link"
				continue
			fi
			if [ -e "$link" ] || command -v "$cmd" >/dev/null 2>&1; then
				info "$cmd exists already ($(command -v "$cmd" || echo "$link")); not linked (INSTALL_KITE_SYMLINK=force to link)"
				continue
			fi
			;;
		esac
		ln -sf "$BIN_DIR/kite" "$link"
		LINKS="$LINKS $link"
	done
}

# The service's environment: KITE_* variables of this shell, 0600 (they
# hold tokens): KEY=value lines for systemd's EnvironmentFile, or export
# lines in OpenRC's conf.d file, which openrc-run reads.
write_env() {
	if [ "$INIT" = openrc ]; then
		ENV_FILE=$(dirname "$OPENRC_DIR")/conf.d/$NAME
	else
		ENV_FILE=$SYSTEMD_DIR/$NAME.service.env
	fi
	mkdir -p "$(dirname "$ENV_FILE")"
	umask 077
	if [ "$INIT" = openrc ]; then
		env | grep -E '^KITE_[A-Z_]+=' | sed "s/'/'\\\\''/g; s/^\([^=]*\)=\(.*\)/export \1='\2'/" >"$ENV_FILE.tmp" || true
	else
		env | grep -E '^KITE_[A-Z_]+=' >"$ENV_FILE.tmp" || true
	fi
	chmod 600 "$ENV_FILE.tmp"
	mv -f "$ENV_FILE.tmp" "$ENV_FILE"
	umask 022
}

write_systemd_unit() {
	UNIT=$SYSTEMD_DIR/$NAME.service
	cat >"$UNIT.tmp" <<EOF
[Unit]
Description=kite: a lightweight Kubernetes ($COMMAND)
Documentation=https://github.com/kite-project/kite
Wants=network-online.target
After=network-online.target

[Service]
Type=notify
EnvironmentFile=-/etc/default/$NAME
EnvironmentFile=-$SYSTEMD_DIR/$NAME.service.env
ExecStart=$BIN_DIR/kite $EXEC
# The pods' processes outlive a restart of kite; only kite is stopped.
KillMode=process
Delegate=yes
LimitNOFILE=1048576
LimitNPROC=infinity
LimitCORE=infinity
TasksMax=infinity
TimeoutStartSec=0
Restart=always
RestartSec=5s

[Install]
WantedBy=multi-user.target
EOF
	mv -f "$UNIT.tmp" "$UNIT"
	SERVICE_FILES="$UNIT $ENV_FILE"
}

write_openrc_script() {
	mkdir -p "$OPENRC_DIR"
	UNIT=$OPENRC_DIR/$NAME
	cat >"$UNIT.tmp" <<EOF
#!/sbin/openrc-run
description="kite: a lightweight Kubernetes ($COMMAND)"
command="$BIN_DIR/kite"
command_args="$EXEC"
command_background=true
pidfile="/run/$NAME.pid"
output_log="/var/log/$NAME.log"
error_log="/var/log/$NAME.log"
depend() {
	need net
	after firewall
}
EOF
	chmod 755 "$UNIT.tmp"
	mv -f "$UNIT.tmp" "$UNIT"
	SERVICE_FILES="$UNIT $ENV_FILE"
}

write_uninstall() {
	cat >"$UNINSTALL.tmp" <<EOF
#!/bin/sh
# Removes what install.sh installed for $NAME; the data dir and /etc/kite stay.
set -u
[ "\$(id -u)" = 0 ] || { echo "$NAME-uninstall.sh: run as root" >&2; exit 1; }
if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
	systemctl disable --now $NAME.service 2>/dev/null
	systemctl daemon-reload
elif command -v rc-service >/dev/null 2>&1; then
	rc-service $NAME stop 2>/dev/null
	rc-update del $NAME default 2>/dev/null
fi
[ -x "$KILLALL" ] && [ -d "$DATA_DIR" ] && "$KILLALL" "$DATA_DIR"
rm -f $SERVICE_FILES
for link in $LINKS; do
	[ -L "\$link" ] && [ "\$(readlink "\$link")" = "$BIN_DIR/kite" ] && rm -f "\$link"
done
rm -f "$BIN_DIR/kite" "$KILLALL" "$UNINSTALL"
echo "$NAME uninstalled; kept: the data dir (/var/lib/kite unless --data-dir) and /etc/kite"
EOF
	chmod 755 "$UNINSTALL.tmp"
	mv -f "$UNINSTALL.tmp" "$UNINSTALL"
}

start_service() {
	if [ "$INIT" = systemd ] && [ -d /run/systemd/system ]; then
		systemctl daemon-reload
		[ "${INSTALL_KITE_SKIP_ENABLE:-}" = true ] || systemctl enable "$NAME.service"
		[ "${INSTALL_KITE_SKIP_START:-}" = true ] || systemctl restart "$NAME.service"
	elif [ "$INIT" = openrc ]; then
		[ "${INSTALL_KITE_SKIP_ENABLE:-}" = true ] || rc-update add "$NAME" default
		[ "${INSTALL_KITE_SKIP_START:-}" = true ] || rc-service "$NAME" restart
	else
		info "no systemd or OpenRC running: start kite with: $BIN_DIR/kite $EXEC"
	fi
}

setup
download
install_binaries
write_env
if [ "$INIT" = openrc ]; then write_openrc_script; else write_systemd_unit; fi
write_uninstall
start_service
info "done: $NAME ($INIT); $UNINSTALL removes it"
