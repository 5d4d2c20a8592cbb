package handshake

import (
	"bytes"
	"errors"
	"io"
	"net"
	"testing"
)

func TestDigestAndPlain(t *testing.T) {
	for _, digest := range []bool{true, false} {
		c, s := net.Pipe()
		done := make(chan error, 1)
		go func() { done <- Client(c, digest) }()
		got, err := Server(s)
		if err != nil {
			t.Fatalf("digest %v: server: %v", digest, err)
		}
		if err := <-done; err != nil {
			t.Fatalf("digest %v: client: %v", digest, err)
		}
		if got != digest {
			t.Fatalf("server saw digest %v, client sent %v", got, digest)
		}
		c.Close()
		s.Close()
	}
}

// A client checks the server's digests: a server that echoes C1 to a digest C1 fails it.
func TestClientChecksServerDigest(t *testing.T) {
	c, s := net.Pipe()
	defer c.Close()
	defer s.Close()
	done := make(chan error, 1)
	go func() { done <- Client(c, true) }()
	in := make([]byte, 1+handshakeSize)
	if _, err := io.ReadFull(s, in); err != nil {
		t.Fatal(err)
	}
	out := append([]byte{3}, make([]byte, handshakeSize)...)
	out = append(out, in[1:]...)
	go func() { _, _ = s.Write(out) }()
	if err := <-done; err == nil {
		t.Fatal("a plain answer to a digest C1 was accepted")
	}
}

func TestRefusals(t *testing.T) {
	for _, tc := range []struct {
		first []byte
		want  error
	}{
		{[]byte("GET / HTTP/1.1\r\n"), ErrVersion},
		{[]byte{6}, ErrEncrypted},
		{[]byte{8}, ErrEncrypted},
	} {
		rw := struct {
			io.Reader
			io.Writer
		}{bytes.NewReader(tc.first), io.Discard}
		if _, err := Server(rw); !errors.Is(err, tc.want) {
			t.Errorf("%q: %v, want %v", tc.first, err, tc.want)
		}
	}
	// A C1 cut short is an error, not a hang.
	rw := struct {
		io.Reader
		io.Writer
	}{bytes.NewReader(append([]byte{3}, make([]byte, 100)...)), io.Discard}
	if _, err := Server(rw); err == nil {
		t.Error("a short C1 was accepted")
	}
}
