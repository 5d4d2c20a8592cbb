package session

import (
	"testing"
	"time"
)

func TestRTTEstimator(t *testing.T) {
	r := newRTTEstimator()
	if r.erto != initialERTO || r.smoothed() != 200*time.Millisecond {
		t.Fatalf("initial ERTO %v smoothed %v", r.erto, r.smoothed())
	}
	r.sample(100 * time.Millisecond)
	// First sample: SRTT = RTT, RTTVAR = RTT/2, MRTO = SRTT + 4·RTTVAR + delayed-ack time.
	if r.srtt != 100*time.Millisecond || r.rttvar != 50*time.Millisecond {
		t.Fatalf("first sample: srtt %v rttvar %v", r.srtt, r.rttvar)
	}
	if want := 100*time.Millisecond + 200*time.Millisecond + delayedAckTime; r.erto != want || r.mrto != want {
		t.Fatalf("first sample: erto %v mrto %v, want %v", r.erto, r.mrto, want)
	}
	// Smoothing: SRTT ← 7/8 SRTT + 1/8 RTT, RTTVAR ← 3/4 RTTVAR + 1/4 |SRTT − RTT|.
	r.sample(200 * time.Millisecond)
	if r.srtt != 112500*time.Microsecond || r.rttvar != 62500*time.Microsecond {
		t.Fatalf("second sample: srtt %v rttvar %v", r.srtt, r.rttvar)
	}
	// A steady tiny RTT: the delayed-ack term keeps MRTO above 200 ms, and ERTO ≥ 250 ms.
	q := newRTTEstimator()
	for range 100 {
		q.sample(time.Millisecond)
	}
	if q.mrto < delayedAckTime || q.erto != minimumERTO {
		t.Fatalf("tiny RTT: mrto %v erto %v", q.mrto, q.erto)
	}
	// Back-off: ×√2 per timeout, capped at 10 s, never below MRTO.
	prev := q.erto
	q.backoff()
	if q.erto != prev*1414/1000 {
		t.Fatalf("backoff %v → %v", prev, q.erto)
	}
	for range 30 {
		q.backoff()
	}
	if q.erto != maximumERTO {
		t.Fatalf("backoff cap: %v", q.erto)
	}
	// A new sample ends the back-off.
	q.sample(time.Millisecond)
	if q.erto != minimumERTO {
		t.Fatalf("after a sample: %v", q.erto)
	}
	// An MRTO above the cap wins over the cap.
	s := newRTTEstimator()
	s.sample(5 * time.Second)
	s.backoff()
	if s.erto < s.mrto || s.mrto <= maximumERTO {
		t.Fatalf("huge RTT: mrto %v erto %v", s.mrto, s.erto)
	}
}

func TestCongestionSlowStartAndAvoidance(t *testing.T) {
	c := newCongestion()
	if c.cwnd != cwndInitial {
		t.Fatalf("initial window %d", c.cwnd)
	}
	// Slow start: a full window acked grows the window by the bytes acked (≤ 1 MSS per ack).
	w := c.cwnd
	c.onAck(sendMSS, 0, 0, false, false, w, w-sendMSS)
	if c.cwnd != w+sendMSS {
		t.Fatalf("slow start: %d → %d", w, c.cwnd)
	}
	c.onAck(5*sendMSS, 0, 0, false, false, c.cwnd, 0)
	if c.cwnd != w+2*sendMSS {
		t.Fatalf("slow start grows by at most one MSS per ack: %d", c.cwnd)
	}
	// Application limited: a window not in use does not grow.
	w = c.cwnd
	c.onAck(sendMSS, 0, 0, false, false, sendMSS, 0)
	if c.cwnd != w {
		t.Fatalf("application-limited growth %d → %d", w, c.cwnd)
	}
	// Congestion avoidance: one MSS per window of acked bytes.
	c.ssthresh = c.cwnd
	w = c.cwnd
	acked := 0
	for acked+sendMSS < w {
		c.onAck(sendMSS, 0, 0, false, false, c.cwnd, c.cwnd-sendMSS)
		acked += sendMSS
		if c.cwnd != w {
			t.Fatalf("grew after %d of %d bytes", acked, w)
		}
	}
	c.onAck(sendMSS, 0, 0, false, false, c.cwnd, c.cwnd-sendMSS)
	if c.cwnd != w+sendMSS {
		t.Fatalf("additive increase: %d → %d", w, c.cwnd)
	}
	// A NAK without loss holds the window.
	w = c.cwnd
	c.onAck(sendMSS, 0, 0, false, true, c.cwnd, c.cwnd)
	if c.cwnd != w {
		t.Fatal("window grew while a NAK was reported")
	}
}

func TestCongestionOneHalvingPerLossEpisode(t *testing.T) {
	c := newCongestion()
	c.cwnd = 40 * sendMSS
	inFlight := 40 * sendMSS
	c.onAck(sendMSS, sendMSS, 0, true, true, inFlight, inFlight-2*sendMSS)
	if c.cwnd != 20*sendMSS || c.ssthresh != 20*sendMSS {
		t.Fatalf("first loss: cwnd %d ssthresh %d, want %d", c.cwnd, c.ssthresh, 20*sendMSS)
	}
	if c.recoveryRemaining != inFlight-2*sendMSS {
		t.Fatalf("recovery %d", c.recoveryRemaining)
	}
	// More losses while the data in flight at the first one drains: the same episode.
	for i := 0; i < 30; i++ {
		c.onAck(sendMSS, 0, 0, true, true, 30*sendMSS, 29*sendMSS)
		if c.cwnd != 20*sendMSS {
			t.Fatalf("window cut twice in one episode: %d after %d acks", c.cwnd, i+1)
		}
	}
	// Drained: a new loss is a new episode.
	for c.recoveryRemaining > 0 {
		c.onAck(sendMSS, 0, 0, false, false, 20*sendMSS, 19*sendMSS)
	}
	c.onAck(sendMSS, sendMSS, 0, true, true, 20*sendMSS, 18*sendMSS)
	if c.cwnd != 10*sendMSS {
		t.Fatalf("second episode: cwnd %d, want %d", c.cwnd, 10*sendMSS)
	}
	// Never below the initial window.
	c.recoveryRemaining = 0
	c.cwnd = cwndInitial
	c.onAck(0, sendMSS, 0, true, false, cwndInitial, 0)
	if c.cwnd != cwndInitial || c.ssthresh != cwndInitial {
		t.Fatalf("floor: cwnd %d ssthresh %d", c.cwnd, c.ssthresh)
	}
}

func TestCongestionTimeout(t *testing.T) {
	c := newCongestion()
	c.cwnd = 50 * sendMSS
	c.recoveryRemaining = 1000
	c.onTimeout(false, 30*sendMSS)
	if c.cwnd != cwndTimedOut || c.ssthresh != 15*sendMSS || c.recoveryRemaining != 0 {
		t.Fatalf("timeout: cwnd %d ssthresh %d", c.cwnd, c.ssthresh)
	}
	c.cwnd = 50 * sendMSS
	c.onTimeout(true, 0)
	if c.cwnd != cwndInitial || c.ssthresh != 15*sendMSS {
		t.Fatalf("idle timeout: cwnd %d ssthresh %d", c.cwnd, c.ssthresh)
	}
}

func TestPacer(t *testing.T) {
	var p pacer
	// Before an RTT is known (or on a LAN) a full burst is allowed.
	if n := p.allow(0, 10*sendMSS, 0); n != maxBurst {
		t.Fatalf("no RTT: %d", n)
	}
	p = pacer{}
	srtt := 100 * time.Millisecond
	cwnd := 10 * sendMSS
	if n := p.allow(0, cwnd, srtt); n != 0 {
		t.Fatalf("no tokens at start: %d", n)
	}
	// Tokens accrue at 1.25 × cwnd / srtt.
	ms := int64(time.Millisecond)
	n := p.allow(10*ms, cwnd, srtt)
	want := int(1.25 * float64(cwnd) * 0.010 / 0.1)
	if n < want-1 || n > want+1 {
		t.Fatalf("after 10 ms: %d tokens, want %d", n, want)
	}
	p.spend(n)
	if w := p.wait(cwnd, srtt); w <= 0 || w > srtt {
		t.Fatalf("wait for one MSS: %v", w)
	}
	// The bucket holds at most one burst.
	if n := p.allow(10_000*ms, cwnd, srtt); n != maxBurst {
		t.Fatalf("after a long idle: %d tokens, want %d", n, maxBurst)
	}
	if p.wait(cwnd, srtt) != 0 {
		t.Fatal("must not wait with tokens in the bucket")
	}
}

// TestCongestionUndoSpuriousLoss: a reduction is undone when every fragment whose loss
// caused it proves to have arrived, not when only some do, and never after a timeout;
// spurious losses raise the NAK threshold (bounded) and a timeout resets it.
func TestCongestionUndoSpuriousLoss(t *testing.T) {
	c := newCongestion()
	c.cwnd, c.ssthresh = 40*sendMSS, 30*sendMSS
	ep := c.lossEpisode()
	c.onAck(sendMSS, 2*sendMSS, 2, true, true, 40*sendMSS, 37*sendMSS)
	if c.cwnd != 20*sendMSS || c.episode != ep {
		t.Fatalf("cut: cwnd %d, episode %d want %d", c.cwnd, c.episode, ep)
	}
	// A loss found during the recovery joins the episode.
	if c.lossEpisode() != ep {
		t.Fatal("losses during recovery start a new episode")
	}
	c.onAck(sendMSS, sendMSS, 1, true, true, 20*sendMSS, 18*sendMSS)
	c.spurious(ep)
	c.spurious(ep)
	if c.cwnd != 20*sendMSS || c.undone != 0 {
		t.Fatalf("undone with one of three losses still real: cwnd %d", c.cwnd)
	}
	c.spurious(ep)
	if c.cwnd != 40*sendMSS || c.ssthresh != 30*sendMSS || c.recoveryRemaining != 0 || c.undone != 1 {
		t.Fatalf("not undone: cwnd %d ssthresh %d recovery %d", c.cwnd, c.ssthresh, c.recoveryRemaining)
	}
	c.spurious(ep) // late news of the same episode changes nothing more
	if c.cwnd != 40*sendMSS || c.undone != 1 {
		t.Fatalf("undone twice: cwnd %d", c.cwnd)
	}
	if c.nakThreshold <= initialNakThreshold {
		t.Fatalf("NAK threshold %d after spurious losses", c.nakThreshold)
	}
	for range 20 {
		c.spurious(0)
	}
	if c.nakThreshold != maxNakThreshold {
		t.Fatalf("NAK threshold %d, want the cap %d", c.nakThreshold, maxNakThreshold)
	}
	// A loss episode, then a timeout: the timeout's collapse is not undone.
	ep = c.lossEpisode()
	c.onAck(0, sendMSS, 1, true, true, 40*sendMSS, 39*sendMSS)
	c.onTimeout(false, 39*sendMSS)
	if c.nakThreshold != initialNakThreshold {
		t.Fatalf("NAK threshold %d after a timeout", c.nakThreshold)
	}
	c.spurious(ep)
	if c.cwnd != cwndTimedOut {
		t.Fatalf("a timeout undone: cwnd %d", c.cwnd)
	}
}
