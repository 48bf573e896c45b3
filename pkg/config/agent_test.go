package config

import (
	"os"
	"strings"
	"testing"
)

func TestAgentDefaultsToHostName(t *testing.T) {
	a := Agent{}
	if err := a.Validate(); err != nil {
		t.Fatal(err)
	}
	host, _ := os.Hostname()
	if a.NodeName != strings.ToLower(host) {
		t.Fatalf("node name %q, host %q", a.NodeName, host)
	}
}

func TestAgentRejects(t *testing.T) {
	for name, c := range map[string]struct {
		a    Agent
		want string
	}{
		"node name": {Agent{NodeName: "Bad_Name"}, "--node-name"},
		"node ip":   {Agent{NodeName: "n", NodeIP: "10.0.0"}, "--node-ip"},
		"loopback":  {Agent{NodeName: "n", NodeIP: "127.0.0.1"}, "--node-ip"},
		"label":     {Agent{NodeName: "n", NodeLabels: []string{"novalue"}}, "--node-label"},
		"taint":     {Agent{NodeName: "n", NodeTaints: []string{"k=v:Sometimes"}}, "--node-taint"},
		"arg":       {Agent{NodeName: "n", KubeletArgs: []string{"="}}, "--kubelet-arg"},
	} {
		t.Run(name, func(t *testing.T) {
			err := c.a.Validate()
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want an error naming %s", err, c.want)
			}
		})
	}
	good := Agent{NodeName: "edge-1", NodeIP: "198.18.0.11", NodeLabels: []string{"zone=a"}, NodeTaints: []string{"dedicated=edge:NoSchedule", "gpu:NoExecute"}}
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
}
