package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"os"

	"github.com/kite-project/kite/pkg/fileutil"
)

const (
	certMode = 0o644
	keyMode  = 0o600
)

func newECKey() (crypto.Signer, error) {
	return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
}

func encodeKey(key crypto.Signer) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

func encodeCert(cert *x509.Certificate) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw})
}

// parseKey reads a PEM private key in PKCS#8, SEC 1 (EC) or PKCS#1 (RSA).
func parseKey(data []byte) (crypto.Signer, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, errors.New("no PEM block")
	}
	if k, err := x509.ParsePKCS8PrivateKey(block.Bytes); err == nil {
		signer, ok := k.(crypto.Signer)
		if !ok {
			return nil, fmt.Errorf("unsupported key type %T", k)
		}
		return signer, nil
	}
	if k, err := x509.ParseECPrivateKey(block.Bytes); err == nil {
		return k, nil
	}
	if k, err := x509.ParsePKCS1PrivateKey(block.Bytes); err == nil {
		return k, nil
	}
	return nil, fmt.Errorf("PEM block %q is not a private key", block.Type)
}

// parseCert reads the first certificate of a PEM file.
func parseCert(data []byte) (*x509.Certificate, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, errors.New("no PEM block")
	}
	if block.Type != "CERTIFICATE" {
		return nil, fmt.Errorf("PEM block is %q, not CERTIFICATE", block.Type)
	}
	return x509.ParseCertificate(block.Bytes)
}

func serialNumber() (*big.Int, error) {
	return rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
}

// keyMatches reports whether key is the private half of cert's public key.
func keyMatches(cert *x509.Certificate, key crypto.Signer) bool {
	pub, ok := key.Public().(interface{ Equal(crypto.PublicKey) bool })
	return ok && pub.Equal(cert.PublicKey)
}

// pair is a certificate with its key.
type pair struct {
	cert *x509.Certificate
	key  crypto.Signer
}

// loadPair reads certPath and keyPath. It returns (nil, nil) when neither
// exists, and an error naming the file when one is missing or unreadable:
// kite never replaces a file it cannot read, which could be a real key.
func loadPair(certPath, keyPath string) (*pair, error) {
	certPEM, certErr := os.ReadFile(certPath)
	keyPEM, keyErr := os.ReadFile(keyPath)
	switch {
	case os.IsNotExist(certErr) && os.IsNotExist(keyErr):
		return nil, nil
	case certErr != nil:
		return nil, fileError(certPath, certErr)
	case keyErr != nil:
		return nil, fileError(keyPath, keyErr)
	}
	cert, err := parseCert(certPEM)
	if err != nil {
		return nil, fileError(certPath, fmt.Errorf("not a valid PEM certificate: %w", err))
	}
	key, err := parseKey(keyPEM)
	if err != nil {
		return nil, fileError(keyPath, fmt.Errorf("not a valid PEM private key: %w", err))
	}
	if !keyMatches(cert, key) {
		return nil, fileError(keyPath, fmt.Errorf("key does not match certificate %s", certPath))
	}
	return &pair{cert: cert, key: key}, nil
}

// PKIError is a problem with a file of the PKI, which the user must resolve.
type PKIError struct {
	Path string
	Err  error
}

func (e *PKIError) Error() string {
	return fmt.Sprintf("%s: %v; restore it from a backup, or move the whole folder away to make a new PKI (every client then needs new credentials)", e.Path, e.Err)
}

func (e *PKIError) Unwrap() error { return e.Err }

func fileError(path string, err error) error {
	if os.IsNotExist(err) {
		err = errors.New("missing while its certificate/key partner exists")
	}
	return &PKIError{Path: path, Err: err}
}

func writePair(certPath, keyPath string, p *pair) error {
	keyPEM, err := encodeKey(p.key)
	if err != nil {
		return err
	}
	// Each file is replaced atomically. A crash between the two renames
	// leaves a pair that does not match, which the next start reports.
	if err := fileutil.WriteAtomic(keyPath, keyPEM, keyMode); err != nil {
		return err
	}
	return fileutil.WriteAtomic(certPath, encodeCert(p.cert), certMode)
}

// ensureServiceAccountKey loads or makes the key that signs service account
// tokens. RSA, because every consumer of the cluster's OIDC documents takes it.
func ensureServiceAccountKey(path string) error {
	data, err := os.ReadFile(path)
	if err == nil {
		if _, err := parseKey(data); err != nil {
			return &PKIError{Path: path, Err: fmt.Errorf("not a valid PEM private key: %w", err)}
		}
		return os.Chmod(path, keyMode)
	}
	if !os.IsNotExist(err) {
		return &PKIError{Path: path, Err: err}
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return err
	}
	keyPEM, err := encodeKey(key)
	if err != nil {
		return err
	}
	return fileutil.WriteAtomic(path, keyPEM, keyMode)
}
