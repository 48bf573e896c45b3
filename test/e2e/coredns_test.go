package e2e

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/net/dns/dnsmessage"
)

const dnsClients = `apiVersion: v1
kind: Service
metadata: {name: web, namespace: default}
spec:
  clusterIP: None
  selector: {app: web}
  ports: [{port: 80}]
---
apiVersion: v1
kind: Pod
metadata: {name: web-0, namespace: default, labels: {app: web}}
spec:
  hostname: web-0
  subdomain: web
  terminationGracePeriodSeconds: 1
  containers:
  - {name: c, image: kite.local/busybox:1.35, imagePullPolicy: Never, command: [httpd, -f, -h, /www]}
---
apiVersion: v1
kind: Service
metadata: {name: ext, namespace: default}
spec:
  type: ExternalName
  externalName: outside.example
---
apiVersion: v1
kind: Pod
metadata: {name: dns, namespace: default}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - {name: c, image: kite.local/busybox:1.35, imagePullPolicy: Never, command: [sleep, "3600"]}
`

// The coredns-custom ConfigMap a user writes: a server block of its own.
const dnsCustom = `apiVersion: v1
kind: ConfigMap
metadata: {name: coredns-custom, namespace: kube-system}
data:
  test.server: |
    custom.test:53 {
        hosts {
            198.18.0.88 hello.custom.test
        }
    }
`

// TestCoreDNS: pods resolve Service names, headless Service pod names,
// ExternalName Services, node names, a coredns-custom entry, and names
// outside the cluster (forwarded to the node's --resolv-conf resolver, here
// a DNS server of the test's in the lab); --disable coredns removes it.
func TestCoreDNS(t *testing.T) {
	upstream, err := serveDNS("/run/netns/"+theLab.router, labRouterIP+":53", map[string]string{"outside.example.": "198.18.0.77"})
	if err != nil {
		t.Fatal(err)
	}
	defer upstream.Close()

	dataDir := withBusybox(t, t.TempDir())
	kubeconfig := filepath.Join(t.TempDir(), "kite.yaml")
	t.Cleanup(func() { killall(t, dataDir) })
	manifests := filepath.Join(dataDir, "server", "manifests")
	if err := os.MkdirAll(manifests, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(manifests, "dns-custom.yaml"), []byte(dnsCustom), 0o600); err != nil {
		t.Fatal(err)
	}
	srv := startServer(t, dataDir, kubeconfig, "--node-name", "kite-dns")
	srv.waitReady()
	apply(t, srv, dnsClients)
	eventually(t, 3*time.Minute, "CoreDNS ready", func() error {
		out, err := srv.kubectl("-n", "kube-system", "get", "deployment", "coredns", "-o", "jsonpath={.status.readyReplicas}")
		if err == nil && out != "1" {
			err = fmt.Errorf("ready replicas %q", out)
		}
		return err
	})
	eventually(t, 2*time.Minute, "the client pods running", func() error {
		out, err := srv.kubectl("get", "pods", "dns", "web-0", "-o", "jsonpath={.items[*].status.phase}")
		if err == nil && out != "Running Running" {
			err = fmt.Errorf("phases %q", out)
		}
		return err
	})
	webIP := srv.mustKubectl(t, "get", "pod", "web-0", "-o", "jsonpath={.status.podIP}")
	lookups := []struct{ name, want string }{
		{"kubernetes.default.svc.cluster.local", "10.43.0.1"},
		{"web-0.web.default.svc.cluster.local", webIP},
		{"kite-dns.", theLab.nodeIP}, // the node's name, from NodeHosts (busybox tries only the search path for a bare name)
		{"outside.example", "198.18.0.77"},
		{"ext.default.svc.cluster.local", "198.18.0.77"},
		{"hello.custom.test", "198.18.0.88"}, // coredns-custom, read at start or on change
	}
	for _, l := range lookups {
		eventually(t, 3*time.Minute, "resolve "+l.name, func() error {
			out, err := srv.kubectl("exec", "dns", "--", "nslookup", l.name)
			if err != nil {
				return fmt.Errorf("%v\n%s", err, out)
			}
			if !strings.Contains(out, "Address: "+l.want) {
				return fmt.Errorf("nslookup %s: want %s:\n%s", l.name, l.want, out)
			}
			return nil
		})
	}
	checkHostileNodeHostsIgnored(t, srv)
	if upstream.Queries("outside.example.") == 0 {
		t.Fatal("outside.example was answered without asking the node's resolver")
	}

	// --disable coredns: the Deployment, the Service and the nodes' hosts
	// go; the user's coredns-custom stays.
	if code := srv.stop(syscall.SIGTERM); code != 0 {
		t.Fatalf("kite server exited %d", code)
	}
	srv = startServer(t, dataDir, kubeconfig, "--node-name", "kite-dns", "--disable", "coredns")
	srv.waitReady()
	eventually(t, time.Minute, "CoreDNS removed", func() error {
		out, err := srv.kubectl("-n", "kube-system", "get", "deployment,service,configmap", "-o", "name")
		if err != nil {
			return err
		}
		for _, gone := range []string{"deployment.apps/coredns", "service/kube-dns", "configmap/coredns\n"} {
			if strings.Contains(out+"\n", gone) {
				return fmt.Errorf("%s is still there", strings.TrimSpace(gone))
			}
		}
		if !strings.Contains(out, "configmap/coredns-custom") {
			return fmt.Errorf("the user's coredns-custom went too:\n%s", out)
		}
		return nil
	})
}

// dnsServer answers A queries for a fixed set of names, and NXDOMAIN for
// anything else, on a UDP address inside a network namespace of the test.
type dnsServer struct {
	conn    net.PacketConn
	mu      chan struct{}
	queries map[string]int
}

func serveDNS(nsPath, addr string, records map[string]string) (*dnsServer, error) {
	conn, err := inNetns(nsPath, func() (net.PacketConn, error) { return net.ListenPacket("udp", addr) })
	if err != nil {
		return nil, err
	}
	s := &dnsServer{conn: conn, mu: make(chan struct{}, 1), queries: map[string]int{}}
	go s.serve(records)
	return s, nil
}

func (s *dnsServer) Close() error { return s.conn.Close() }

// Queries returns how often name was asked for.
func (s *dnsServer) Queries(name string) int {
	s.mu <- struct{}{}
	defer func() { <-s.mu }()
	return s.queries[name]
}

func (s *dnsServer) serve(records map[string]string) {
	buf := make([]byte, 1500)
	for {
		n, from, err := s.conn.ReadFrom(buf)
		if err != nil {
			return
		}
		var msg dnsmessage.Message
		if err := msg.Unpack(buf[:n]); err != nil || len(msg.Questions) != 1 {
			continue
		}
		q := msg.Questions[0]
		s.mu <- struct{}{}
		s.queries[q.Name.String()]++
		<-s.mu
		reply := dnsmessage.Message{
			Header:    dnsmessage.Header{ID: msg.ID, Response: true, RecursionAvailable: true, RCode: dnsmessage.RCodeNameError},
			Questions: msg.Questions,
		}
		if ip, ok := records[q.Name.String()]; ok {
			reply.RCode = dnsmessage.RCodeSuccess
			if q.Type == dnsmessage.TypeA {
				var a [4]byte
				copy(a[:], net.ParseIP(ip).To4())
				reply.Answers = []dnsmessage.Resource{{
					Header: dnsmessage.ResourceHeader{Name: q.Name, Type: dnsmessage.TypeA, Class: dnsmessage.ClassINET, TTL: 30},
					Body:   &dnsmessage.AResource{A: a},
				}}
			}
		}
		out, err := reply.Pack()
		if err == nil {
			s.conn.WriteTo(out, from)
		}
	}
}
