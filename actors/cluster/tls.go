package cluster

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
)

// TLSFiles name the PEM files of a node's mutual TLS: the cluster's CA, and this node's
// certificate (for both server and client use) and key. Every node presents a certificate
// the CA signed and accepts only such certificates; host names are not checked (nodes
// dial each other by address, and the CA is what makes a node a member).
type TLSFiles struct {
	CA, Cert, Key string
}

// Enabled reports whether TLS is configured.
func (f TLSFiles) Enabled() bool { return f.CA != "" || f.Cert != "" || f.Key != "" }

// load returns the server's and the client's TLS configurations.
func (f TLSFiles) load() (server, client *tls.Config, err error) {
	if f.CA == "" || f.Cert == "" || f.Key == "" {
		return nil, nil, errors.New("mutual TLS needs the CA, the certificate and the key")
	}
	caPEM, err := os.ReadFile(f.CA)
	if err != nil {
		return nil, nil, fmt.Errorf("CA: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, nil, fmt.Errorf("CA: no certificate in %s", f.CA)
	}
	cert, err := tls.LoadX509KeyPair(f.Cert, f.Key)
	if err != nil {
		return nil, nil, fmt.Errorf("certificate and key: %w", err)
	}
	verify := func(cs tls.ConnectionState) error {
		if len(cs.PeerCertificates) == 0 {
			return errors.New("no certificate")
		}
		inter := x509.NewCertPool()
		for _, c := range cs.PeerCertificates[1:] {
			inter.AddCert(c)
		}
		_, err := cs.PeerCertificates[0].Verify(x509.VerifyOptions{Roots: pool, Intermediates: inter,
			KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
		return err
	}
	server = &tls.Config{Certificates: []tls.Certificate{cert}, ClientCAs: pool, ClientAuth: tls.RequireAndVerifyClientCert,
		MinVersion: tls.VersionTLS13}
	client = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS13,
		// The chain is verified below against the cluster's CA, without a host name.
		InsecureSkipVerify: true, VerifyConnection: verify} //nolint:gosec
	return server, client, nil
}
