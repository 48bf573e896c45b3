package englishonly

import "testing"

func TestIsKubectl(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want bool
	}{
		{[]string{"/usr/local/bin/kubectl", "get", "pods"}, true},
		{[]string{"kite", "kubectl", "get", "pods"}, true},
		{[]string{"/usr/local/bin/kite", "--debug", "kubectl", "version"}, true},
		{[]string{"kite", "server"}, false},
		{[]string{"/var/lib/kite/data/abc/bin/containerd-shim-runc-v2", "-namespace", "k8s.io", "start"}, false},
		{[]string{"/usr/local/bin/kite", "containerd", "--config", "/var/lib/kite/agent/containerd/config.toml"}, false},
		{nil, false},
	} {
		if got := IsKubectl(tc.args); got != tc.want {
			t.Errorf("IsKubectl(%q) = %v, want %v", tc.args, got, tc.want)
		}
	}
}
