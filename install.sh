#!/bin/sh
# Installs kite and runs it as a service, as K3s's installer does:
#
#   curl -sfL https://github.com/kite-project/kite/releases/latest/download/install.sh | sh -
#   curl -sfL …/install.sh | KITE_URL=https://SERVER:6443 KITE_TOKEN=… sh -     # an agent
#
# Environment (all optional):
#   INSTALL_KITE_DOWNLOAD_URL  release folder (URL or local path) holding
#                              kite-<arch>.xz, kite-killall.sh and
#                              sha256sum-<arch>.txt (scripts/release makes it;
#                              an older release's kite-<arch>.gz is taken too)
#   INSTALL_KITE_VERSION       a release tag (default: the latest)
#   INSTALL_KITE_SKIP_DOWNLOAD=true  use the kite already in the bin dir
#   INSTALL_KITE_BIN_DIR       where kite goes (default /usr/local/bin)
#   INSTALL_KITE_SYSTEMD_DIR   where the unit goes (default /etc/systemd/system)
#   INSTALL_KITE_SYMLINK       kubectl/crictl/ctr links: skip, force, or
#                              (default) only where no such command exists
#   INSTALL_KITE_EXEC          the command and flags: "server …", "agent …",
#                              or flags only (server, or agent if KITE_URL is
#                              set); words split at blanks, '…' and "…"
#                              quote as in sh (no $ or ` expansion). Any
#                              arguments of install.sh itself follow them, as
#                              with K3s: curl … | sh -s - server --disable x
#   INSTALL_KITE_NAME          service name suffix: kite-NAME (default kite,
#                              or kite-agent for an agent)
#   INSTALL_KITE_SKIP_ENABLE=true, INSTALL_KITE_SKIP_START=true
#   INSTALL_KITE_INIT          systemd or openrc (default: the one running)
#   INSTALL_KITE_OPENRC_DIR    where the OpenRC script goes (default
#                              /etc/init.d; its settings go to ../conf.d)
#   KITE_URL, KITE_TOKEN, KITE_TOKEN_FILE, KITE_* …  written to the
#                              service's environment file (mode 0600)
#
# Secrets: a join token among the flags (--token/-t, --agent-token; with a
# space or =) is moved into the environment file as KITE_TOKEN (resp.
# KITE_AGENT_TOKEN), which kite reads as it would the flag: the unit, the
# OpenRC script and every process's command line (ps) stay free of it.
# KITE_TOKEN and a --token of another value is an error. KITE_TOKEN=… sh -
# keeps the token off install.sh's own command line as well.
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

# q WORD: WORD quoted for sh ('…', a ' inside as '\'').
q() {
	_s=$1 _r=
	while :; do
		case $_s in
		*\'*)
			_r="$_r${_s%%\'*}'\\''"
			_s=${_s#*\'}
			;;
		*)
			_r="$_r$_s"
			break
			;;
		esac
	done
	printf "'%s'" "$_r"
}

# Characters a word may hold and be written as it is: in a unit's
# ExecStart, an environment file, an OpenRC script.
SAFE='A-Za-z0-9_./:,@+=-'

# shq WORD: WORD for sh, quoted only if it needs to be.
shq() {
	case $1 in
	"" | *[!$SAFE]*) q "$1" ;;
	*) printf '%s' "$1" ;;
	esac
}

# esc STRING: STRING with \ " $ and ` escaped by a backslash, for "…" in
# sh and in systemd's files alike.
esc() {
	_r=$(printf '%s.' "$1" | sed 's/[\\"$`]/\\&/g')
	printf '%s' "${_r%.}"
}

# sdq WORD: WORD as one argument of a systemd command line: "…" with C
# escapes, $$ for $ and %% for % (systemd expands $VAR and %-specifiers
# there).
sdq() {
	case $1 in
	"" | *[!$SAFE]*)
		_r=$(printf '%s.' "$1" | sed 's/[\\"]/\\&/g; s/\$/$$/g; s/%/%%/g')
		printf '"%s"' "${_r%.}"
		;;
	*) printf '%s' "$1" ;;
	esac
}

# INSTALL_KITE_EXEC's words, each quoted by q, on one line: split at
# blanks; '…' and "…" quote as in sh, a backslash escapes; nothing is
# expanded. Exit status 2 for an unclosed quote.
split_exec() {
	awk '
	function emit(w,   i, c, r) {
		r = ""
		for (i = 1; i <= length(w); i++) {
			c = substr(w, i, 1)
			r = r (c == "\047" ? "\047\\\047\047" : c)
		}
		out = out " \047" r "\047"
	}
	BEGIN {
		s = ENVIRON["INSTALL_KITE_EXEC"]; n = length(s); w = ""; inw = 0; mode = ""; out = ""
		for (i = 1; i <= n; i++) {
			c = substr(s, i, 1)
			if (mode == "\047") {
				if (c == "\047") mode = ""; else w = w c
				continue
			}
			if (mode == "\"") {
				if (c == "\"") { mode = ""; continue }
				if (c == "\\" && i < n) {
					d = substr(s, i + 1, 1)
					if (d == "\n") { i++; continue }
					if (d == "\"" || d == "\\" || d == "$" || d == "`") { w = w d; i++; continue }
				}
				w = w c
				continue
			}
			if (c == " " || c == "\t" || c == "\n") {
				if (inw) emit(w)
				w = ""; inw = 0
				continue
			}
			inw = 1
			if (c == "\047" || c == "\"") { mode = c; continue }
			if (c == "\\" && i < n) {
				i++; d = substr(s, i, 1)
				if (d != "\n") w = w d
				continue
			}
			w = w c
		}
		if (mode != "") exit 2
		if (inw) emit(w)
		print out
	}'
}

# secret FLAG VALUE: a join secret given as a flag, for the environment
# file instead of the command line.
secret() {
	[ -n "$2" ] || fatal "$1 needs a value"
	case $1 in
	*agent-token)
		[ "$COMMAND" = server ] || fatal "$1 is a flag of kite server, not of kite $COMMAND"
		[ -z "$AGENT_TOKEN_ARG" ] || [ "$AGENT_TOKEN_ARG" = "$2" ] || fatal "--agent-token is given twice, with different values"
		AGENT_TOKEN_ARG=$2
		;;
	*)
		[ -z "$TOKEN_ARG" ] || [ "$TOKEN_ARG" = "$2" ] || fatal "--token is given twice, with different values"
		TOKEN_ARG=$2
		;;
	esac
}

setup() {
	[ "$(id -u)" = 0 ] || fatal "run as root (curl … | sudo sh -)"
	case $(uname -m) in
	x86_64 | amd64) ARCH=amd64 ;;
	aarch64 | arm64) ARCH=arm64 ;;
	*) fatal "unsupported architecture $(uname -m): kite is released for amd64 and arm64" ;;
	esac
	BIN_DIR=${INSTALL_KITE_BIN_DIR:-/usr/local/bin}
	SYSTEMD_DIR=${INSTALL_KITE_SYSTEMD_DIR:-/etc/systemd/system}

	# The command line: INSTALL_KITE_EXEC's words, then install.sh's own
	# arguments.
	words=$(split_exec) || fatal "INSTALL_KITE_EXEC has an unclosed quote"
	for a in "$@"; do words="$words $(q "$a")"; done
	eval "set -- $words"
	case ${1:-} in
	server | agent)
		COMMAND=$1
		shift
		;;
	"" | -*) if [ -n "${KITE_URL:-}" ]; then COMMAND=agent; else COMMAND=server; fi ;;
	*) fatal "the command line (INSTALL_KITE_EXEC, arguments) must start with server, agent or a flag, not '$1'" ;;
	esac
	# Its flags, as kite's flag parser reads them (-flag or --flag, a value
	# after a space or =), but for the secrets; the data dir is noted for
	# kite-killall.sh.
	ARGS=
	TOKEN_ARG=
	AGENT_TOKEN_ARG=
	DATA_DIR=
	HAS_SERVER=
	HAS_TOKEN_FILE=
	while [ $# -gt 0 ]; do
		a=$1
		shift
		case $a in
		--)
			ARGS="$ARGS --"
			for a in "$@"; do ARGS="$ARGS $(q "$a")"; done
			break
			;;
		-t | --t | -token | --token | -agent-token | --agent-token)
			[ $# -gt 0 ] || fatal "$a needs a value"
			secret "$a" "$1"
			shift
			continue
			;;
		-t=* | --t=* | -token=* | --token=* | -agent-token=* | --agent-token=*)
			secret "${a%%=*}" "${a#*=}"
			continue
			;;
		-d | --d | -data-dir | --data-dir)
			[ $# -gt 0 ] || fatal "$a needs a value"
			DATA_DIR=$1
			ARGS="$ARGS $(q "$a") $(q "$1")"
			shift
			continue
			;;
		-d=* | --d=* | -data-dir=* | --data-dir=*) DATA_DIR=${a#*=} ;;
		-s | --s | -server | --server | -s=* | --s=* | -server=* | --server=*) HAS_SERVER=1 ;;
		-token-file | --token-file | -token-file=* | --token-file=*) HAS_TOKEN_FILE=1 ;;
		esac
		ARGS="$ARGS $(q "$a")"
	done
	# Control characters have no place in a flag, and would not survive
	# the unit file.
	eval "set -- $ARGS"
	for a in "$@"; do
		case $a in *[[:cntrl:]]*) fatal "a flag holds a control character (a newline?)" ;; esac
	done
	MOVED=
	if [ -n "$TOKEN_ARG" ]; then
		if [ -n "${KITE_TOKEN:-}" ] && [ "$KITE_TOKEN" != "$TOKEN_ARG" ]; then
			fatal "the token is given twice with different values, as KITE_TOKEN and as --token; give it once"
		fi
		KITE_TOKEN=$TOKEN_ARG
		export KITE_TOKEN
		MOVED="--token (as KITE_TOKEN)"
	fi
	if [ -n "$AGENT_TOKEN_ARG" ]; then
		if [ -n "${KITE_AGENT_TOKEN:-}" ] && [ "$KITE_AGENT_TOKEN" != "$AGENT_TOKEN_ARG" ]; then
			fatal "the agent token is given twice with different values, as KITE_AGENT_TOKEN and as --agent-token; give it once"
		fi
		KITE_AGENT_TOKEN=$AGENT_TOKEN_ARG
		export KITE_AGENT_TOKEN
		MOVED="${MOVED:+$MOVED and }--agent-token (as KITE_AGENT_TOKEN)"
	fi

	case ${INSTALL_KITE_NAME:-} in
	*[!A-Za-z0-9_.@-]*) fatal "INSTALL_KITE_NAME may hold letters, digits and _ . @ - only, not '$INSTALL_KITE_NAME'" ;;
	esac
	if [ "$COMMAND" = agent ]; then
		[ -n "${KITE_URL:-}" ] || [ -n "$HAS_SERVER" ] || fatal "an agent needs KITE_URL=https://SERVER:6443"
		[ -n "${KITE_TOKEN:-}${KITE_TOKEN_FILE:-}" ] || [ -n "$HAS_TOKEN_FILE" ] || fatal "an agent needs KITE_TOKEN or KITE_TOKEN_FILE (the server's <data-dir>/server/token)"
		NAME=${INSTALL_KITE_NAME:+kite-$INSTALL_KITE_NAME}
		NAME=${NAME:-kite-agent}
	else
		NAME=${INSTALL_KITE_NAME:+kite-$INSTALL_KITE_NAME}
		NAME=${NAME:-kite}
	fi
	# The data dir, for kite-killall.sh in the uninstall script (and for
	# kite-killall.sh to know the service that runs it).
	DATA_DIR=${DATA_DIR:-${KITE_DATA_DIR:-/var/lib/kite}}
	case $DATA_DIR in *[[:cntrl:]]*) fatal "the data dir's name holds a control character" ;; esac
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

# unxz_cmd: a command that writes the xz-compressed file given as its
# argument to stdout: xz (xz-utils: Debian, Ubuntu, Fedora, any systemd
# distribution), else unxz (busybox's applet on Alpine, OpenWrt), else
# `busybox unxz`. Both need ~66 MB of memory for kite (xz -9's dictionary).
unxz_cmd() {
	if command -v xz >/dev/null 2>&1; then
		echo "xz -dc"
	elif command -v unxz >/dev/null 2>&1; then
		echo "unxz -c"
	elif command -v busybox >/dev/null 2>&1 && busybox --list 2>/dev/null | grep -qx unxz; then
		echo "busybox unxz -c"
	else
		return 1
	fi
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
	# kite-<arch>.xz (xz -9: ~57 MB for amd64), or an older release's
	# kite-<arch>.gz; the checksum file says which the release has.
	if awk -v f="kite-$ARCH.xz" '$2 == f || $2 == "*" f {found = 1} END {exit !found}' "$TMP/sha256sum"; then
		PACKED=kite-$ARCH.xz
		UNPACK=$(unxz_cmd) || fatal "kite-$ARCH.xz needs xz to unpack: install xz (Debian/Ubuntu: xz-utils; Alpine, Fedora: xz) or busybox with unxz"
	else
		PACKED=kite-$ARCH.gz
		UNPACK="gzip -dc"
	fi
	fetch "$PACKED" "$TMP/$PACKED"
	fetch kite-killall.sh "$TMP/kite-killall.sh"
	check "$PACKED" "$TMP/$PACKED"
	check kite-killall.sh "$TMP/kite-killall.sh"
	$UNPACK "$TMP/$PACKED" >"$TMP/kite" || fatal "$PACKED does not unpack ($UNPACK)"
	rm -f "$TMP/$PACKED"
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
				LINKS="$LINKS $(q "$link")"
				continue
			fi
			if [ -e "$link" ] || command -v "$cmd" >/dev/null 2>&1; then
				info "$cmd exists already ($(command -v "$cmd" || echo "$link")); not linked (INSTALL_KITE_SYMLINK=force to link)"
				continue
			fi
			;;
		esac
		ln -sf "$BIN_DIR/kite" "$link"
		LINKS="$LINKS $(q "$link")"
	done
}

# The service's environment: KITE_* variables of this shell (the tokens
# moved off the command line among them), 0600. For systemd's
# EnvironmentFile: KEY=value, or KEY="value" with \ " $ ` escaped where the
# value needs quotes (systemd reads it as sh would, without expanding
# anything); for OpenRC's conf.d file, which openrc-run sources: export
# KEY='value'.
write_env() {
	if [ "$INIT" = openrc ]; then
		ENV_FILE=$(dirname "$OPENRC_DIR")/conf.d/$NAME
	else
		ENV_FILE=$SYSTEMD_DIR/$NAME.service.env
	fi
	mkdir -p "$(dirname "$ENV_FILE")"
	umask 077
	: >"$ENV_FILE.tmp"
	chmod 600 "$ENV_FILE.tmp"
	# Names from env's output, values from the shell: a value with a
	# newline spans lines there.
	for name in $(env | sed -n 's/^\(KITE_[A-Z0-9_]*\)=.*/\1/p' | sort -u); do
		eval "[ -n \"\${$name+set}\" ]" || continue
		value=
		eval "value=\$$name"
		if [ "$INIT" = openrc ]; then
			printf 'export %s=%s\n' "$name" "$(q "$value")"
		else
			case $value in
			"" | *[!$SAFE]*) printf '%s="%s"\n' "$name" "$(esc "$value")" ;;
			*) printf '%s=%s\n' "$name" "$value" ;;
			esac
		fi >>"$ENV_FILE.tmp"
	done
	mv -f "$ENV_FILE.tmp" "$ENV_FILE"
	umask 022
}

write_systemd_unit() {
	UNIT=$SYSTEMD_DIR/$NAME.service
	exec_start=$(sdq "$BIN_DIR/kite")
	for a in "$COMMAND" "$@"; do exec_start="$exec_start $(sdq "$a")"; done
	cat >"$UNIT.tmp" <<EOF
[Unit]
Description=kite: a lightweight Kubernetes ($COMMAND)
Documentation=https://github.com/kite-project/kite
Wants=network-online.target
After=network-online.target

[Service]
Type=notify
EnvironmentFile=-/etc/default/$NAME
EnvironmentFile=-$ENV_FILE
# Secrets (KITE_TOKEN, KITE_AGENT_TOKEN) are in the environment file
# (0600), never here: this file and the command line are for all to read.
ExecStart=$exec_start
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
	SERVICE_FILES="$(q "$UNIT") $(q "$ENV_FILE")"
}

# openrc-run hands command_args to start-stop-daemon through eval: each
# word quoted for sh, and all of it for the script's "…".
write_openrc_script() {
	mkdir -p "$OPENRC_DIR"
	UNIT=$OPENRC_DIR/$NAME
	args=$COMMAND
	for a in "$@"; do args="$args $(shq "$a")"; done
	cat >"$UNIT.tmp" <<EOF
#!/sbin/openrc-run
# Secrets (KITE_TOKEN, KITE_AGENT_TOKEN) are in $ENV_FILE (0600), never here.
description="kite: a lightweight Kubernetes ($COMMAND)"
command="$(esc "$BIN_DIR/kite")"
command_args="$(esc "$args")"
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
	SERVICE_FILES="$(q "$UNIT") $(q "$ENV_FILE")"
}

# The uninstall script. Its kite-service lines tell kite-killall.sh (in
# the same folder) which service runs kite for which data dir: it stops
# that service first when it cleans that data dir up.
write_uninstall() {
	cat >"$UNINSTALL.tmp" <<EOF
#!/bin/sh
# Removes what install.sh installed for $NAME; the data dir and /etc/kite stay.
# kite-service-name: $NAME
# kite-service-init: $INIT
# kite-service-file: $UNIT
# kite-service-data-dir: $DATA_DIR
set -u
[ "\$(id -u)" = 0 ] || { echo "$NAME-uninstall.sh: run as root" >&2; exit 1; }
if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
	systemctl disable --now $NAME.service 2>/dev/null
	systemctl daemon-reload
elif command -v rc-service >/dev/null 2>&1; then
	rc-service $NAME stop 2>/dev/null
	rc-update del $NAME default 2>/dev/null
fi
[ -x $(q "$KILLALL") ] && [ -d $(q "$DATA_DIR") ] && $(q "$KILLALL") $(q "$DATA_DIR")
rm -f $SERVICE_FILES
for link in $LINKS; do
	[ -L "\$link" ] && [ "\$(readlink "\$link")" = $(q "$BIN_DIR/kite") ] && rm -f "\$link"
done
rm -f $(q "$BIN_DIR/kite") $(q "$KILLALL") $(q "$UNINSTALL")
echo $(q "$NAME uninstalled; kept: the data dir ($DATA_DIR) and /etc/kite")
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
		cmd=$(shq "$BIN_DIR/kite")
		for a in "$COMMAND" "$@"; do cmd="$cmd $(shq "$a")"; done
		info "no systemd or OpenRC running: start kite with the variables of $ENV_FILE and: $cmd"
	fi
}

setup "$@"
[ -z "$MOVED" ] || info "$MOVED: moved from the command line into the service's environment file"
download
install_binaries
write_env
eval "set -- $ARGS"
if [ "$INIT" = openrc ]; then write_openrc_script "$@"; else write_systemd_unit "$@"; fi
write_uninstall
start_service "$@"
info "done: $NAME ($INIT); $UNINSTALL removes it"
