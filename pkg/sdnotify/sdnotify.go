// Package sdnotify tells systemd that kite is ready (a Type=notify unit):
// a datagram "READY=1" to the unix socket named by $NOTIFY_SOCKET. Outside
// systemd the variable is unset and nothing is sent.
//
// Only kite may say so: the kubelet, in the same process, sends READY=1 as
// soon as it starts, long before the node is Ready. Claim takes the
// variable out of the environment at kite's start, so only this package
// knows the socket.
package sdnotify

import (
	"log/slog"
	"net"
	"os"
)

// NotifyReady sends READY=1 and logs what came of it.
func NotifyReady(log *slog.Logger) {
	if sent, err := Ready(); err != nil {
		log.Warn("could not tell systemd that kite is ready", "NOTIFY_SOCKET", socket, "err", err)
	} else if sent {
		log.Info("told systemd that kite is ready")
	}
}

var socket = os.Getenv("NOTIFY_SOCKET")

// Claim removes $NOTIFY_SOCKET from the process's environment (it is
// kept here), so that no other part of kite, nor a child, notifies systemd.
func Claim() { os.Unsetenv("NOTIFY_SOCKET") }

// Ready sends READY=1; it reports whether a socket was named, and the
// error of sending to it.
func Ready() (bool, error) {
	return Send("READY=1")
}

// Send sends state (e.g. "STOPPING=1") to $NOTIFY_SOCKET, if set. A name
// starting with @ is an abstract socket.
func Send(state string) (bool, error) {
	path := socket
	if path == "" {
		return false, nil
	}
	if path[0] == '@' {
		path = "\x00" + path[1:]
	}
	conn, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		return true, err
	}
	defer conn.Close()
	_, err = conn.Write([]byte(state))
	return true, err
}
