package session

import "time"

// Congestion window bounds, in bytes of fragments in flight (RFC 7016 §3.5.2: "a TCP
// compatible congestion control"; the initial and post-timeout windows follow Appendix A).
const (
	sendMSS      = maxFragment + 16
	cwndInitial  = 3 * sendMSS
	cwndTimedOut = 2 * sendMSS
	maxBurst     = 6 * sendMSS // RFC 7016 §3.5.2.3: no more than this in one burst
)

// congestion is a session's TCP-compatible congestion controller: slow start up to the
// threshold, additive increase of one MSS per window of acknowledged data after it, a
// multiplicative decrease (halving) at most once per round trip on loss, and a collapse to
// a small window on retransmission timeout. The window only grows while it is actually
// used, so an application-limited session does not accumulate an unearned window.
type congestion struct {
	cwnd, ssthresh    int
	acc               int // bytes acknowledged toward the next additive increase
	recoveryRemaining int // bytes that were in flight when loss was detected
}

func newCongestion() congestion {
	return congestion{cwnd: cwndInitial, ssthresh: 1 << 30}
}

// onAck updates the window after processing the acknowledgements of one packet.
// preOutstanding is what was in flight before them.
func (c *congestion) onAck(acked, lost int, anyLoss, anyNAK bool, preOutstanding, outstanding int) {
	if c.recoveryRemaining > 0 {
		// One reduction per loss episode: until the data in flight at the time has
		// drained, further losses belong to the same episode.
		drained := acked + lost
		if c.recoveryRemaining > drained {
			c.recoveryRemaining -= drained
			return
		}
		c.recoveryRemaining = 0
	}
	switch {
	case anyLoss:
		cut := min(c.cwnd, preOutstanding)
		c.ssthresh = max(cut/2, cwndInitial)
		c.cwnd = c.ssthresh
		c.acc = 0
		c.recoveryRemaining = outstanding
	case anyNAK:
		// Reordering or loss not yet confirmed: hold the window.
	case preOutstanding >= c.cwnd*63/64:
		if c.cwnd < c.ssthresh {
			c.cwnd += min(acked, sendMSS)
		} else {
			c.acc += acked
			for c.acc >= c.cwnd {
				c.acc -= c.cwnd
				c.cwnd += sendMSS
			}
		}
	}
}

// onTimeout reacts to a retransmission timeout. idle is true when nothing was in flight
// (the window is then merely reset, as after an idle period in TCP).
func (c *congestion) onTimeout(idle bool, outstanding int) {
	c.acc, c.recoveryRemaining = 0, 0
	if idle {
		c.cwnd = cwndInitial
		return
	}
	c.ssthresh = max(outstanding/2, cwndInitial)
	c.cwnd = cwndTimedOut
}

// pacer spreads a session's data packets over the round trip so that a window's worth is
// not written to the socket in one burst: tokens accrue at 1.25 × cwnd / srtt and one
// burst holds at most maxBurst bytes.
type pacer struct {
	tokens float64
	last   int64 // session clock, ns
}

// allow reports how many bytes may be sent at time now, given the window and smoothed RTT.
func (p *pacer) allow(now int64, cwnd int, srtt time.Duration) int {
	if srtt < time.Millisecond {
		p.tokens, p.last = maxBurst, now
		return maxBurst
	}
	rate := 1.25 * float64(cwnd) / srtt.Seconds() // bytes per second
	p.tokens += rate * float64(now-p.last) / 1e9
	p.last = now
	if p.tokens > maxBurst {
		p.tokens = maxBurst
	}
	if p.tokens < 0 {
		return 0
	}
	return int(p.tokens)
}

// spend takes n bytes of tokens.
func (p *pacer) spend(n int) { p.tokens -= float64(n) }

// wait returns how long until sendMSS bytes may be sent.
func (p *pacer) wait(cwnd int, srtt time.Duration) time.Duration {
	if p.tokens >= sendMSS || srtt < time.Millisecond {
		return 0
	}
	rate := 1.25 * float64(cwnd) / srtt.Seconds()
	return time.Duration((sendMSS - p.tokens) / rate * 1e9)
}
