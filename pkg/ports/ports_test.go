package ports

import (
	"net"
	"strings"
	"testing"
)

func TestFree(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	busy := ln.Addr().String()
	err = Free(Port{Addr: "127.0.0.1:0", What: "test"}, Port{Addr: busy, What: "kubelet"})
	if err == nil || !strings.Contains(err.Error(), "kubelet port "+busy+" is already in use") {
		t.Fatalf("busy port: %v", err)
	}
	ln.Close()
	if err := Free(Port{Addr: busy, What: "kubelet"}); err != nil {
		t.Fatalf("free port reported busy: %v", err)
	}
}
