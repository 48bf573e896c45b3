// Package certutil is what a node needs to get certificates without ever
// sending a private key: make or reload a key, and a certificate request
// for it. The server signs the request (server/pki).
package certutil

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
)

// LoadOrNewKey returns the PEM private key at path, or a new P-256 key (not
// written: the caller writes it once the server has signed a certificate
// for it, so that a refused join leaves nothing behind).
func LoadOrNewKey(path string) (key crypto.Signer, keyPEM []byte, err error) {
	keyPEM, err = os.ReadFile(path)
	if err == nil {
		key, err = ParseKey(keyPEM)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w; remove it and kite makes a new one", path, err)
		}
		return key, keyPEM, nil
	}
	if !os.IsNotExist(err) {
		return nil, nil, err
	}
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(ec)
	if err != nil {
		return nil, nil, err
	}
	return ec, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// ParseKey reads a PEM private key (PKCS#8 or SEC 1).
func ParseKey(data []byte) (crypto.Signer, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, errors.New("not a PEM private key")
	}
	if k, err := x509.ParsePKCS8PrivateKey(block.Bytes); err == nil {
		if s, ok := k.(crypto.Signer); ok {
			return s, nil
		}
		return nil, fmt.Errorf("unsupported key type %T", k)
	}
	if k, err := x509.ParseECPrivateKey(block.Bytes); err == nil {
		return k, nil
	}
	return nil, errors.New("not a PKCS#8 or EC private key")
}

// CSR returns a PEM certificate request for key. The server decides the
// certificate's names; the request only proves the key.
func CSR(key crypto.Signer, commonName string) ([]byte, error) {
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: commonName}}, key)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}), nil
}

// ParseCert reads the first certificate of a PEM bundle.
func ParseCert(data []byte) (*x509.Certificate, error) {
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, errors.New("not a PEM certificate")
	}
	return x509.ParseCertificate(block.Bytes)
}

// Matches reports whether key is the private half of cert's public key.
func Matches(cert *x509.Certificate, key crypto.Signer) bool {
	pub, ok := key.Public().(interface{ Equal(crypto.PublicKey) bool })
	return ok && pub.Equal(cert.PublicKey)
}
