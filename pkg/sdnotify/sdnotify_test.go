package sdnotify

import (
	"net"
	"path/filepath"
	"testing"
)

func TestReadyReachesTheSocket(t *testing.T) {
	path := filepath.Join(t.TempDir(), "notify")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	socket = path
	defer func() { socket = "" }()
	if sent, err := Ready(); !sent || err != nil {
		t.Fatalf("Ready: %v %v", sent, err)
	}
	buf := make([]byte, 64)
	n, err := conn.Read(buf)
	if err != nil || string(buf[:n]) != "READY=1" {
		t.Fatalf("got %q %v", buf[:n], err)
	}
}

func TestNoSocketNoMessage(t *testing.T) {
	socket = ""
	if sent, err := Ready(); sent || err != nil {
		t.Fatalf("Ready without NOTIFY_SOCKET: %v %v", sent, err)
	}
}
