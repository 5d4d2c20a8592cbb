package server_test

import (
	"context"
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
	"testing"
	"time"

	"github.com/actorrtmfp/actorrtmfp/actors/client"
	"github.com/actorrtmfp/actorrtmfp/actors/rtmp/rtmpclient"
	"github.com/actorrtmfp/actorrtmfp/actors/server"
)

// The interop tests run ffmpeg (Debian's, installed by scripts/test-deps) against the
// server: as an RTMP publisher, an RTMP player that records what it plays, over RTMPS,
// and ffprobe to count what files hold. Each clip is a few seconds, made by ffmpeg in the
// test's folder.

// runFFmpeg runs ffmpeg with args and fails with its output if it fails.
func runFFmpeg(t testing.TB, ctx context.Context, args ...string) {
	t.Helper()
	ffmpeg, _ := needFFmpeg(t)
	out, err := exec.CommandContext(ctx, ffmpeg, append([]string{"-hide_banner", "-loglevel", "error", "-y"}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("ffmpeg %v: %v\n%s", args, err, out)
	}
}

// startFFmpeg runs ffmpeg in the background; wait returns its error and output.
func startFFmpeg(t *testing.T, ctx context.Context, args ...string) (wait func() (error, string)) {
	t.Helper()
	ffmpeg, _ := needFFmpeg(t)
	cmd := exec.CommandContext(ctx, ffmpeg, append([]string{"-hide_banner", "-loglevel", "error", "-y"}, args...)...)
	var out safeBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			<-done
		}
	})
	return func() (error, string) {
		err := <-done
		done <- err
		return err, out.String()
	}
}

// checkCounts compares ffprobe's frame counts of a file with the source clip's.
func checkCounts(t *testing.T, what, path string, want map[string]int) {
	t.Helper()
	got := probe(t, path)
	for codec, n := range want {
		if got[codec] != n {
			t.Errorf("%s: %d %s frames, want %d (all: %v, source: %v)", what, got[codec], codec, n, got, want)
		}
	}
}

// TestFFmpegPublishesOverRTMPAndAnRTMFPClientReceivesEveryFrame: ffmpeg publishes a file
// over RTMP as an encoder does (paced, @setDataFrame, sequence headers); an RTMFP player
// that was waiting receives every audio and video frame of the file, byte for byte. The
// pace is four times real time (readRate): the server does not pace a live stream, and
// the players of these tests are lossless.
func TestFFmpegPublishesOverRTMPAndAnRTMFPClientReceivesEveryFrame(t *testing.T) {
	t.Parallel()
	clip := makeClip(t, 3)
	want := tagFrames(clipTags(t, clip))
	f, a := startWatchServer(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	ep := newClientEndpoint(t, f, client.EndpointConfig{})
	rc, err := ep.Connect(ctx, f.url, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	got := newCollector()
	if _, err := rc.PlayFunc(ctx, "ff", rtmfpCollect(got)); err != nil {
		t.Fatal(err)
	}
	viaRTMP := newCollector()
	if _, err := rtmpDial(t, f, rtmpclient.Options{}).Play(ctx, "ff", -1000, rtmpCollect(viaRTMP)); err != nil {
		t.Fatal(err)
	}
	runFFmpeg(t, ctx, "-readrate", readRate, "-i", clip, "-c", "copy", "-f", "flv", rtmpURL(f)+"/ff")
	viaRTMP.waitSame(t, want, 20*time.Second)
	a.waitEvent(t, "publish rtmp ff", 5*time.Second)
	got.waitSame(t, want, 20*time.Second)
}

// TestRTMFPPublisherRecordedByFFmpegOverRTMP: an RTMFP client publishes a file; ffmpeg,
// playing it over RTMP, records it; ffprobe finds the source's frame counts and codecs.
func TestRTMFPPublisherRecordedByFFmpegOverRTMP(t *testing.T) {
	t.Parallel()
	clip := makeClip(t, 3)
	f, a := startWatchServer(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out := filepath.Join(t.TempDir(), "out.flv")
	wait := startFFmpeg(t, ctx, "-rtmp_live", "live", "-i", rtmpURL(f)+"/fromrtmfp", "-c", "copy", "-f", "flv", out)
	a.waitEvent(t, "play rtmp fromrtmfp", 10*time.Second)
	waitPublications(t, f, 1, 5*time.Second)
	ep := newClientEndpoint(t, f, client.EndpointConfig{})
	pc, err := ep.Connect(ctx, f.url, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	pub, err := pc.Publish(ctx, "fromrtmfp")
	if err != nil {
		t.Fatal(err)
	}
	if err := publishTags(ctx, clipTags(t, clip), 4, rtmfpWriter(pub)); err != nil {
		t.Fatal(err)
	}
	pub.Close() // ffmpeg ends on NetStream.Play.UnpublishNotify
	if err, output := wait(); err != nil {
		t.Fatalf("ffmpeg: %v\n%s", err, output)
	}
	checkCounts(t, "recorded by ffmpeg", out, probe(t, clip))
}

// TestRecordingReplayedOverRTMFPAndRTMP: an RTMFP client publishes a file with "record";
// the recording has the source's frames (ffprobe), and plays back as VOD, at its own pace
// on the server's clock, to an RTMFP player (every frame, byte for byte) and to ffmpeg over
// RTMP (ffprobe's counts).
func TestRecordingReplayedOverRTMFPAndRTMP(t *testing.T) {
	t.Parallel()
	const clipLength = 3 * time.Second
	clip := makeClip(t, int(clipLength/time.Second))
	tags := clipTags(t, clip)
	want := tagFrames(tags)
	var media string
	f, _ := startWatchServer(t, func(c *server.Config) { media = c.Media })
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	ep := newClientEndpoint(t, f, client.EndpointConfig{})
	pc, err := ep.Connect(ctx, f.url, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	pub, err := pc.PublishAs(ctx, "rec", "record")
	if err != nil {
		t.Fatal(err)
	}
	if err := publishTags(ctx, tags, 16, rtmfpWriter(pub)); err != nil {
		t.Fatal(err)
	}
	pub.Close()
	waitCounter(t, "recordings closed", &f.srv.MediaStats().Closed, 1, 10*time.Second)
	file := filepath.Join(media, "live", "rec.flv")
	source := probe(t, clip)
	checkCounts(t, "the recording", file, source)
	if diff := want.same(tagFrames(clipTags(t, file))); diff != "" {
		t.Fatalf("the recording: %s", diff)
	}

	// Both plays start (the RTMFP player has the first frames, sent ahead of their time;
	// ffmpeg's play is counted), then the server's clock, which paces the plays, skips
	// the clip's length: what is left of it is due at once, on the same timers.
	got := newCollector()
	if _, err := pc.PlayFrom(ctx, "rec", 0, rtmfpCollect(got)); err != nil {
		t.Fatal(err)
	}
	got.waitFor(t, 1, 1, 10*time.Second)
	out := filepath.Join(t.TempDir(), "vod.flv")
	ffmpegDone := startFFmpeg(t, ctx, "-i", rtmpURL(f)+"/rec", "-c", "copy", "-f", "flv", out)
	waitCounter(t, "recordings played", &f.srv.MediaStats().Plays, 2, 20*time.Second)
	f.clock.Skip(clipLength)
	if err, output := ffmpegDone(); err != nil {
		t.Fatalf("ffmpeg playing the recording over RTMP: %v\n%s", err, output)
	}
	checkCounts(t, "played over RTMP by ffmpeg", out, source)
	got.waitFor(t, len(want.audio), len(want.video), 20*time.Second)
	if diff := want.same(got.frames()); diff != "" {
		t.Fatalf("played over RTMFP: %s", diff)
	}
}

// TestFFmpegPublishesOverRTMPS: RTMPS with a certificate and key from the settings;
// ffmpeg checks the certificate (-tls_verify 1 against the test's CA) and publishes; an
// RTMFP player receives every frame.
func TestFFmpegPublishesOverRTMPS(t *testing.T) {
	t.Parallel()
	clip := makeClip(t, 2)
	want := tagFrames(clipTags(t, clip))
	certFile, keyFile := testCertificate(t)
	f, _ := startWatchServer(t, func(c *server.Config) {
		c.RTMPS, c.RTMPSCert, c.RTMPSKey = "127.0.0.1:0", certFile, keyFile
	})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	ep := newClientEndpoint(t, f, client.EndpointConfig{})
	rc, err := ep.Connect(ctx, f.url, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	got := newCollector()
	if _, err := rc.PlayFunc(ctx, "tls", rtmfpCollect(got)); err != nil {
		t.Fatal(err)
	}
	url := fmt.Sprintf("rtmps://%s/live/tls", f.srv.RTMPSAddrs()[0])
	runFFmpeg(t, ctx, "-readrate", readRate, "-i", clip, "-c", "copy", "-tls_verify", "1", "-ca_file", certFile, "-f", "flv", url)
	got.waitSame(t, want, 20*time.Second)
	if n := f.srv.RTMPStats().HandshakeErrors.Load(); n != 0 {
		t.Fatalf("%d handshake errors", n)
	}
}

// testCertificate writes a self-signed certificate for 127.0.0.1 and its key as PEM files.
func testCertificate(t *testing.T) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, DNSNames: []string{"localhost"},
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true, IsCA: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}
