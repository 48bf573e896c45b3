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

func TestAgentCommand(t *testing.T) {
	hash := strings.Repeat("ab", 32)
	good := NewAgentCommand()
	good.Server = "https://198.18.0.11"
	good.Token = "K10" + hash + "::node:s3cret"
	good.Agent.NodeName = "edge-2"
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
	if good.Server != "https://198.18.0.11:6443" || good.ParsedToken.Password != "s3cret" || good.ParsedToken.CAHash != hash {
		t.Fatalf("validated %+v", good)
	}
	tokenFile := t.TempDir() + "/token"
	os.WriteFile(tokenFile, []byte("abcdef.0123456789abcdef\n"), 0o600)
	for name, c := range map[string]struct {
		mod  func(*AgentCommand)
		want string
	}{
		"no server":     {func(a *AgentCommand) { a.Server = "" }, "--server is missing"},
		"http server":   {func(a *AgentCommand) { a.Server = "http://198.18.0.11:6443" }, "--server"},
		"no token":      {func(a *AgentCommand) { a.Token = "" }, "--token is missing"},
		"bad token":     {func(a *AgentCommand) { a.Token = "K10abc::node:x" }, "--token"},
		"both tokens":   {func(a *AgentCommand) { a.TokenFile = tokenFile }, "both"},
		"missing file":  {func(a *AgentCommand) { a.Token = ""; a.TokenFile = tokenFile + ".absent" }, "--token-file"},
		"lb port":       {func(a *AgentCommand) { a.LBServerPort = 0 }, "--lb-server-port"},
		"bad node name": {func(a *AgentCommand) { a.Agent.NodeName = "Bad_Name" }, "--node-name"},
	} {
		t.Run(name, func(t *testing.T) {
			a := NewAgentCommand()
			a.Server, a.Token, a.Agent.NodeName = "https://198.18.0.11:6443", "K10"+hash+"::node:s3cret", "edge-2"
			c.mod(&a)
			if err := a.Validate(); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want an error containing %q", err, c.want)
			}
		})
	}
	fromFile := NewAgentCommand()
	fromFile.Server, fromFile.TokenFile, fromFile.Agent.NodeName = "https://h:6443", tokenFile, "edge-2"
	if err := fromFile.Validate(); err != nil {
		t.Fatal(err)
	}
	if _, _, ok := fromFile.ParsedToken.Bootstrap(); !ok {
		t.Fatalf("token file's bootstrap token: %+v", fromFile.ParsedToken)
	}
}
