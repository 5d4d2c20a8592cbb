package main

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	endian "encoding/binary"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/actorrtmfp/actorrtmfp/actors/client"
	"github.com/actorrtmfp/actorrtmfp/codec/flash"
)

// These helpers run cluster nodes as separate processes of the command (one remote per
// process: protoactor's remote sets gRPC's global logger when it starts, and two in one
// process race), read their JSON logs, start etcd, and make TLS certificates. The test
// process itself never starts remote.

var clusterBinary struct {
	once sync.Once
	path string
	err  error
}

// clusterBin builds the command for the cluster tests: with the race detector when the
// tests run under it (a race in a node then fails the test), else the plain build of
// TestMain.
func clusterBin(t *testing.T) string {
	t.Helper()
	if !raceEnabled {
		return binary
	}
	clusterBinary.once.Do(func() {
		clusterBinary.path = filepath.Join(filepath.Dir(binary), "actorrtmfp-race")
		out, err := exec.Command("go", "build", "-race", "-o", clusterBinary.path, ".").CombinedOutput()
		if err != nil {
			clusterBinary.err = fmt.Errorf("go build -race: %v\n%s", err, out)
		}
	})
	if clusterBinary.err != nil {
		t.Fatal(clusterBinary.err)
	}
	return clusterBinary.path
}

// freePorts returns n TCP ports of 127.0.0.1 that were free, each followed by a free port
// too (a static member's health endpoint).
func freePorts(t *testing.T, n int) []int {
	t.Helper()
	var out []int
	var held []net.Listener
	defer func() {
		for _, l := range held {
			l.Close()
		}
	}()
	for len(out) < n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, l)
		p := l.Addr().(*net.TCPAddr).Port
		if p >= 65535 {
			continue
		}
		l2, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p+1))
		if err != nil {
			continue
		}
		held = append(held, l2)
		out = append(out, p)
	}
	return out
}

// node is one cluster node: the command running as a child process.
type node struct {
	t       *testing.T
	name    string
	env     []string
	cmd     *exec.Cmd
	addr    string // the UDP address it serves
	peerID  string // its server peer ID
	member  string // its cluster member ID
	cluster string // its cluster address

	mu     sync.Mutex
	logs   []map[string]any
	races  []string
	signal chan struct{} // closed and replaced at each log line
	done   chan struct{}
}

// startNode starts a node with env (ACTORRTMFP_ settings) and waits until it serves.
func startNode(t *testing.T, name string, env ...string) *node {
	t.Helper()
	n := &node{t: t, name: name, env: env}
	n.start()
	t.Cleanup(n.stop)
	return n
}

func (n *node) start() {
	t := n.t
	t.Helper()
	cmd := exec.Command(clusterBin(t))
	cmd.Dir = t.TempDir()
	// No RTMP (its default :1935 would be taken by the first node) and no media folder.
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "ACTORRTMFP_LOG_FORMAT=json", "ACTORRTMFP_LOG_LEVEL=info",
		"ACTORRTMFP_RTMP=off", "ACTORRTMFP_MEDIA=off", "GORACE=halt_on_error=0"}, n.env...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	n.mu.Lock()
	n.cmd, n.logs, n.done, n.signal = cmd, nil, make(chan struct{}), make(chan struct{})
	done := n.done
	n.mu.Unlock()
	go n.read(stderr, done)
	line := n.waitLog("to start", 60*time.Second, func(l map[string]any) bool { return l["msg"] == "actorrtmfp started" })
	addrs, _ := line["addrs"].([]any)
	if len(addrs) == 0 {
		t.Fatalf("%s: no address in %v", n.name, line)
	}
	n.addr, n.peerID, n.member = fmt.Sprint(addrs[0]), fmt.Sprint(line["peer_id"]), fmt.Sprint(line["cluster_member"])
	if cl := n.waitLog("its cluster address", time.Second, msg("cluster node started", "member", n.member)); cl != nil {
		n.cluster = fmt.Sprint(cl["address"])
	}
}

// read collects the node's log lines and the reports of the race detector.
func (n *node) read(stderr interface{ Read([]byte) (int, error) }, done chan struct{}) {
	defer close(done)
	sc := bufio.NewScanner(stderr)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	var race []string
	for sc.Scan() {
		text := sc.Text()
		var line map[string]any
		if json.Unmarshal([]byte(text), &line) != nil {
			switch {
			case strings.HasPrefix(text, "WARNING: DATA RACE"):
				race = []string{text}
			case race != nil && text == "==================":
				n.mu.Lock()
				n.races = append(n.races, strings.Join(race, "\n"))
				n.mu.Unlock()
				race = nil
			case race != nil:
				race = append(race, text)
			}
			continue
		}
		n.mu.Lock()
		n.logs = append(n.logs, line)
		close(n.signal)
		n.signal = make(chan struct{})
		n.mu.Unlock()
	}
}

// mark returns the number of log lines so far: waitLogAfter looks at later ones only.
func (n *node) mark() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return len(n.logs)
}

func (n *node) waitLog(what string, d time.Duration, pred func(map[string]any) bool) map[string]any {
	n.t.Helper()
	return n.waitLogAfter(0, what, d, pred)
}

// waitLogAfter waits for a log line after the first from that pred accepts.
func (n *node) waitLogAfter(from int, what string, d time.Duration, pred func(map[string]any) bool) map[string]any {
	n.t.Helper()
	deadline := time.After(d)
	for i := from; ; {
		n.mu.Lock()
		lines, signal, done := n.logs, n.signal, n.done
		n.mu.Unlock()
		for ; i < len(lines); i++ {
			if pred(lines[i]) {
				return lines[i]
			}
		}
		select {
		case <-signal:
		case <-done:
			n.mu.Lock()
			more := len(n.logs) > i
			n.mu.Unlock()
			if !more {
				n.t.Fatalf("%s exited while the test waited for it %s; its log:\n%s", n.name, what, n.dump())
			}
		case <-deadline:
			n.t.Fatalf("%s did not log %s within %v; its log:\n%s", n.name, what, d, n.dump())
		}
	}
}

// count returns how many log lines after from pred accepts.
func (n *node) count(from int, pred func(map[string]any) bool) int {
	n.mu.Lock()
	defer n.mu.Unlock()
	c := 0
	for _, l := range n.logs[min(from, len(n.logs)):] {
		if pred(l) {
			c++
		}
	}
	return c
}

func (n *node) dump() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	var b strings.Builder
	for _, l := range n.logs[max(0, len(n.logs)-60):] {
		j, _ := json.Marshal(l)
		b.Write(j)
		b.WriteByte('\n')
	}
	return b.String()
}

// msg accepts the log lines whose message is m (and whose fields have the values kv
// gives, in pairs).
func msg(m string, kv ...any) func(map[string]any) bool {
	return func(l map[string]any) bool {
		if l["msg"] != m {
			return false
		}
		for i := 0; i+1 < len(kv); i += 2 {
			if fmt.Sprint(l[fmt.Sprint(kv[i])]) != fmt.Sprint(kv[i+1]) {
				return false
			}
		}
		return true
	}
}

// kill ends the node with SIGKILL (kill -9) and waits for it.
func (n *node) kill() {
	n.mu.Lock()
	cmd, done := n.cmd, n.done
	n.mu.Unlock()
	_ = cmd.Process.Signal(syscall.SIGKILL)
	<-done
	_ = cmd.Wait()
	n.checkRaces()
}

// stop ends the node with SIGTERM (a graceful stop) and waits for it.
func (n *node) stop() {
	n.mu.Lock()
	cmd, done := n.cmd, n.done
	n.mu.Unlock()
	if cmd == nil || cmd.ProcessState != nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		<-done
	}
	_ = cmd.Wait()
	n.checkRaces()
}

// checkRaces fails the test on a data race in the project's code; races inside
// protoactor alone are logged (docs/cluster.md says which remain).
func (n *node) checkRaces() {
	n.mu.Lock()
	races := n.races
	n.races = nil
	n.mu.Unlock()
	for _, r := range races {
		if strings.Contains(r, "actorrtmfp/actorrtmfp/") {
			n.t.Errorf("%s: data race in the project's code:\n%s", n.name, r)
		} else {
			n.t.Logf("%s: data race inside a dependency:\n%s", n.name, r)
		}
	}
}

// url returns the RTMFP URL of the node's application path.
func (n *node) url(path string) string { return "rtmfp://" + n.addr + "/" + path }

// ---- etcd ----

// etcdServer is an etcd server on free loopback ports with a temporary data directory,
// stopped when the test ends.
type etcdServer struct {
	t            *testing.T
	bin, dir     string
	client, peer int
	cmd          *exec.Cmd
	exited       chan struct{}
	mu           sync.Mutex
	log          []string
	endpoint     string
}

// startEtcd starts an etcd server and returns once it serves clients.
func startEtcd(t *testing.T) *etcdServer {
	t.Helper()
	bin, err := exec.LookPath("etcd")
	if err != nil {
		t.Fatal("etcd is not installed: run scripts/test-deps (Debian's etcd-server)")
	}
	ports := freePorts(t, 2)
	e := &etcdServer{t: t, bin: bin, dir: t.TempDir(), client: ports[0], peer: ports[1]}
	e.endpoint = fmt.Sprintf("127.0.0.1:%d", e.client)
	e.start()
	t.Cleanup(e.stop)
	return e
}

// start starts (or restarts, on the same data) the server.
func (e *etcdServer) start() {
	t := e.t
	t.Helper()
	cmd := exec.Command(e.bin, "--name", "t", "--data-dir", e.dir,
		"--listen-client-urls", fmt.Sprintf("http://127.0.0.1:%d", e.client), "--advertise-client-urls", fmt.Sprintf("http://127.0.0.1:%d", e.client),
		"--listen-peer-urls", fmt.Sprintf("http://127.0.0.1:%d", e.peer), "--initial-advertise-peer-urls", fmt.Sprintf("http://127.0.0.1:%d", e.peer),
		"--initial-cluster", fmt.Sprintf("t=http://127.0.0.1:%d", e.peer), "--logger", "zap", "--log-level", "info")
	out, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ready, exited := make(chan struct{}), make(chan struct{})
	e.cmd, e.exited = cmd, exited
	go func() {
		defer close(exited)
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		once := sync.Once{}
		for sc.Scan() {
			e.mu.Lock()
			e.log = append(e.log, sc.Text())
			e.mu.Unlock()
			if strings.Contains(sc.Text(), "serving client traffic") || strings.Contains(sc.Text(), "ready to serve client requests") {
				once.Do(func() { close(ready) })
			}
		}
	}()
	select {
	case <-ready:
	case <-exited:
		e.mu.Lock()
		defer e.mu.Unlock()
		t.Fatalf("etcd exited:\n%s", strings.Join(e.log, "\n"))
	case <-time.After(60 * time.Second):
		t.Fatal("etcd did not serve clients within 60 s")
	}
}

// stop stops the server (SIGTERM) and waits for it.
func (e *etcdServer) stop() {
	if e.cmd == nil {
		return
	}
	_ = e.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-e.exited:
	case <-time.After(10 * time.Second):
		_ = e.cmd.Process.Kill()
		<-e.exited
	}
	_ = e.cmd.Wait()
	e.cmd = nil
}

// ---- TLS ----

// clusterCerts writes a CA and n node certificates (and keys) into dir; it returns the
// paths of the CA and of each node's certificate and key.
func clusterCerts(t *testing.T, dir string, n int) (ca string, certs, keys []string) {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "actorrtmfp test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour), IsCA: true,
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	ca = filepath.Join(dir, "ca.pem")
	writePEM(t, ca, "CERTIFICATE", caDER)
	for i := range n {
		key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(int64(i + 2)), Subject: pkix.Name{CommonName: fmt.Sprintf("node%d", i)},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
			IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		kder, _ := x509.MarshalECPrivateKey(key)
		c, k := filepath.Join(dir, fmt.Sprintf("node%d.pem", i)), filepath.Join(dir, fmt.Sprintf("node%d-key.pem", i))
		writePEM(t, c, "CERTIFICATE", der)
		writePEM(t, k, "EC PRIVATE KEY", kder)
		certs, keys = append(certs, c), append(keys, k)
	}
	return ca, certs, keys
}

func writePEM(t *testing.T, path, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

// ---- media ----

// Test media: video frames carry their number after an AVC NALU header; key frames
// every keyEvery frames; audio frames carry theirs too.
const keyEvery = 10

var (
	videoConfig = client.Media{Type: flash.TypeVideo, Data: []byte{0x17, 0x00, 0, 0, 0, 1, 0x64, 0, 0x1f}}
	audioConfig = client.Media{Type: flash.TypeAudio, Data: []byte{0xAF, 0x00, 0x12, 0x10}}
)

func videoFrame(i int) client.Media {
	b := []byte{0x27, 0x01, 0, 0, 0, 0, 0, 0, 0}
	if i%keyEvery == 0 {
		b[0] = 0x17
	}
	endian.BigEndian.PutUint32(b[5:], uint32(i))
	return client.Media{Type: flash.TypeVideo, Timestamp: uint32(i * 33), Data: b}
}

// frameNumber returns the number of a test video frame, or -1 for another message.
func frameNumber(m client.Media) int {
	if m.Type != flash.TypeVideo || len(m.Data) != 9 || m.Data[1] != 0x01 {
		return -1
	}
	return int(endian.BigEndian.Uint32(m.Data[5:]))
}

func isKey(m client.Media) bool { return m.Type == flash.TypeVideo && flash.IsKeyFrame(m.Data) }

// waitStatus waits for a player's status code (and fails on timeout).
func waitStatus(t *testing.T, p *client.Player, code string, d time.Duration) {
	t.Helper()
	deadline := time.After(d)
	for {
		select {
		case s := <-p.Status:
			if s.Code == code {
				return
			}
		case <-deadline:
			t.Fatalf("player of %s: no %s within %v", p.Name, code, d)
		}
	}
}

// nextFrame returns the next test video frame a player receives.
func nextFrame(t *testing.T, p *client.Player, d time.Duration) client.Media {
	t.Helper()
	deadline := time.After(d)
	for {
		select {
		case m := <-p.C:
			if frameNumber(m) >= 0 {
				return m
			}
		case <-deadline:
			t.Fatalf("player of %s: no video frame within %v", p.Name, d)
		}
	}
}

func ctxT(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}
