# Sourced by scripts/bench and scripts/bench-datastore: the baseline kite's
# control plane is measured against. Upstream kube-apiserver,
# kube-scheduler and kube-controller-manager as separate processes over a
# separate kine (test/bench/kineserver), all built here from the modules in
# go.mod, SQLite opened with only _journal_mode=WAL&_busy_timeout=30000
# (kine's other defaults halve its throughput: ../shared/PLATFORM.md).
#
# The caller sets ns (the network namespace to run in) and an array pids,
# to which each function appends the PIDs it starts.

# baseline_build OUT: builds the four programs into OUT.
baseline_build() {
	go build -o "$1/kineserver" ./test/bench/kineserver
	local c
	for c in kube-apiserver kube-scheduler kube-controller-manager; do
		go build -ldflags "-s -w" -o "$1/$c" "k8s.io/kubernetes/cmd/$c"
	done
}

# baseline_prepare DIR: keys, a CA, an admin token and DIR/kubeconfig (the
# API server at 127.0.0.1:6443), before anything is timed.
baseline_prepare() {
	local dir=$1 token
	mkdir -p "$dir/db" "$dir/certs"
	openssl genrsa -out "$dir/sa.key" 2048 2>/dev/null
	openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=bench-ca -keyout "$dir/ca.key" -out "$dir/ca.crt" 2>/dev/null
	token=$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')
	echo "$token,admin,admin,system:masters" >"$dir/tokens.csv"
	cat >"$dir/kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters: [{name: b, cluster: {server: "https://127.0.0.1:6443", insecure-skip-tls-verify: true}}]
users: [{name: b, user: {token: "$token"}}]
contexts: [{name: b, context: {cluster: b, user: b}}]
current-context: b
EOF
}

# baseline_start_apiserver DIR OUT: kine, then the API server; returns
# once they are started (the caller waits for /readyz).
baseline_start_apiserver() {
	local dir=$1 out=$2
	# nsenter execs what it runs, so $! is that program's PID.
	nsenter --net="/run/netns/$ns" -- "$out/kineserver" -listen "unix://$dir/kine.sock" \
		-endpoint "sqlite://$dir/db/state.db?_journal_mode=WAL&_busy_timeout=30000" >"$dir/kine.log" 2>&1 &
	pids+=($!)
	until [ -S "$dir/kine.sock" ]; do sleep 0.05; done
	nsenter --net="/run/netns/$ns" -- "$out/kube-apiserver" --etcd-servers "unix://$dir/kine.sock" --storage-backend etcd3 \
		--advertise-address 198.18.0.11 --secure-port 6443 --cert-dir "$dir/certs" \
		--token-auth-file "$dir/tokens.csv" --anonymous-auth=false \
		--authorization-mode Node,RBAC --enable-admission-plugins NodeRestriction --allow-privileged \
		--service-account-issuer https://kubernetes.default.svc.cluster.local \
		--api-audiences https://kubernetes.default.svc.cluster.local \
		--service-account-key-file "$dir/sa.key" --service-account-signing-key-file "$dir/sa.key" \
		--service-cluster-ip-range 10.43.0.0/16 --profiling=false >"$dir/apiserver.log" 2>&1 &
	pids+=($!)
}

# baseline_start_controllers DIR OUT: the scheduler and the
# controller-manager, with the controllers and settings kite runs
# (CLUSTER_CIDR: the pods' range, kite's default unless set).
baseline_start_controllers() {
	local dir=$1 out=$2
	nsenter --net="/run/netns/$ns" -- "$out/kube-scheduler" --kubeconfig "$dir/kubeconfig" --authentication-kubeconfig "$dir/kubeconfig" \
		--authorization-kubeconfig "$dir/kubeconfig" --bind-address 127.0.0.1 --secure-port 10259 \
		--leader-elect=false --profiling=false >"$dir/scheduler.log" 2>&1 &
	pids+=($!)
	nsenter --net="/run/netns/$ns" -- "$out/kube-controller-manager" --kubeconfig "$dir/kubeconfig" --authentication-kubeconfig "$dir/kubeconfig" \
		--authorization-kubeconfig "$dir/kubeconfig" --bind-address 127.0.0.1 --secure-port 10257 \
		--leader-elect=false --profiling=false --controllers '*,tokencleaner' --use-service-account-credentials \
		--kube-api-qps 100 --kube-api-burst 200 --allocate-node-cidrs --cluster-cidr "${CLUSTER_CIDR:-10.42.0.0/16}" \
		--service-cluster-ip-range 10.43.0.0/16 --configure-cloud-routes=false \
		--root-ca-file "$dir/ca.crt" --service-account-private-key-file "$dir/sa.key" \
		--cluster-signing-cert-file "$dir/ca.crt" --cluster-signing-key-file "$dir/ca.key" >"$dir/controller-manager.log" 2>&1 &
	pids+=($!)
}

# baseline_alive DIR: exits the benchmark if a process in pids has died.
baseline_alive() {
	local p
	for p in "${pids[@]}"; do
		kill -0 "$p" 2>/dev/null || { echo "a baseline process died; logs in $1" >&2; trap - EXIT; exit 1; }
	done
}
