package e2e

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// etcdBinary builds etcd's own main (go.etcd.io/etcd/server/v3, the module
// kite pins) once, into bin/bench/etcd.
var etcdBinary = sync.OnceValues(func() (string, error) {
	path := filepath.Join(repoRoot, "bin", "bench", "etcd")
	cmd := exec.Command("bash", "-c", `. scripts/env && go build -o "$1" go.etcd.io/etcd/server/v3`, "bash", path)
	cmd.Dir = repoRoot
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building etcd: %v\n%s", err, out)
	}
	return path, nil
})

// testCA makes a CA in dir (name.crt) and returns a function that issues a
// certificate of it (file.crt, file.key) for the IPs given.
func testCA(t *testing.T, dir, name string) func(file string, ips ...string) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	writePEM(t, filepath.Join(dir, name+".crt"), "CERTIFICATE", der)
	ca, _ := x509.ParseCertificate(der)
	serial := int64(1)
	return func(file string, ips ...string) {
		serial++
		k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		c := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: file},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}}
		for _, ip := range ips {
			c.IPAddresses = append(c.IPAddresses, net.ParseIP(ip))
		}
		der, err := x509.CreateCertificate(rand.Reader, c, ca, &k.PublicKey, key)
		if err != nil {
			t.Fatal(err)
		}
		writePEM(t, filepath.Join(dir, file+".crt"), "CERTIFICATE", der)
		kder, _ := x509.MarshalECPrivateKey(k)
		writePEM(t, filepath.Join(dir, file+".key"), "EC PRIVATE KEY", kder)
	}
}

func writePEM(t *testing.T, path, kind string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: kind, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

// startEtcdCluster starts three etcd members (etcd's own main) on ip, with
// client TLS of a CA of their own and client certificates required; it
// returns the cluster as a datastore for kite (--datastore-endpoint and
// its TLS flags) and the folder with the CA and a client certificate.
func startEtcdCluster(t *testing.T, command func(string, ...string) *exec.Cmd, ip string) (*database, string) {
	t.Helper()
	bin, err := etcdBinary()
	if err != nil {
		t.Fatal(err)
	}
	dir := shortTempDir(t)
	issue := testCA(t, dir, "etcd-ca")
	issue("server", ip)
	issue("client")
	ports := [][2]int{{2379, 2380}, {22379, 22380}, {32379, 32380}}
	var cluster, clients []string
	for i, p := range ports {
		cluster = append(cluster, fmt.Sprintf("m%d=http://%s:%d", i+1, ip, p[1]))
		clients = append(clients, fmt.Sprintf("https://%s:%d", ip, p[0]))
	}
	var members []*database
	for i, p := range ports {
		client := clients[i]
		peer := fmt.Sprintf("http://%s:%d", ip, p[1])
		members = append(members, launchDB(t, fmt.Sprintf("etcd m%d", i+1), command, bin,
			"--name", fmt.Sprintf("m%d", i+1), "--data-dir", filepath.Join(dir, fmt.Sprintf("m%d", i+1)),
			"--listen-client-urls", client, "--advertise-client-urls", client,
			"--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
			"--initial-cluster", strings.Join(cluster, ","), "--initial-cluster-state", "new",
			"--cert-file", filepath.Join(dir, "server.crt"), "--key-file", filepath.Join(dir, "server.key"),
			"--trusted-ca-file", filepath.Join(dir, "etcd-ca.crt"), "--client-cert-auth"))
	}
	for _, m := range members {
		m.wait(t, "serving client traffic securely")
	}
	db := members[0]
	db.name = "etcd"
	db.endpoint = strings.Join(clients, ",")
	db.flags = []string{"--datastore-cafile", filepath.Join(dir, "etcd-ca.crt"),
		"--datastore-certfile", filepath.Join(dir, "client.crt"), "--datastore-keyfile", filepath.Join(dir, "client.key")}
	db.says = "datastore (external etcd) is ready"
	return db, dir
}
