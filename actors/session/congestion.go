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
//
// A reduction is undone when every fragment whose loss caused it turns out to have arrived
// after all (reordering, not loss: see spurious); such spurious losses also make loss
// detection more tolerant of reordering (nakThreshold).
type congestion struct {
	cwnd, ssthresh    int
	acc               int // bytes acknowledged toward the next additive increase
	recoveryRemaining int // bytes that were in flight when loss was detected

	// Loss episodes: episode counts the reductions; undoLeft is how many fragments declared
	// lost in the current episode are not yet known to have arrived; undoCwnd and
	// undoSsthresh are the window before the reduction (undoOK while it may be undone).
	episode                uint32
	undoLeft               int
	undoCwnd, undoSsthresh int
	undoOK                 bool
	// nakThreshold is how many negative acknowledgements declare a fragment lost: 3
	// (RFC 7016 §3.6.2.4), raised by spurious losses up to maxNakThreshold.
	nakThreshold uint8
	undone       uint64 // reductions undone (statistics, tests)
}

const (
	initialNakThreshold = 3
	maxNakThreshold     = 32
)

func newCongestion() congestion {
	return congestion{cwnd: cwndInitial, ssthresh: 1 << 30, nakThreshold: initialNakThreshold}
}

// lossEpisode returns the episode that losses detected now belong to: the current one
// while its recovery lasts, else the one they start.
func (c *congestion) lossEpisode() uint32 {
	if c.recoveryRemaining > 0 {
		return c.episode
	}
	return c.episode + 1
}

// onAck updates the window after processing the acknowledgements of one packet.
// preOutstanding is what was in flight before them; lostFrags fragments (not abandoned
// ones) were declared lost, in episode lossEpisode().
func (c *congestion) onAck(acked, lost, lostFrags int, anyLoss, anyNAK bool, preOutstanding, outstanding int) {
	if c.recoveryRemaining > 0 {
		// One reduction per loss episode: until the data in flight at the time has
		// drained, further losses belong to the same episode.
		c.undoLeft += lostFrags
		drained := acked + lost
		if c.recoveryRemaining > drained {
			c.recoveryRemaining -= drained
			return
		}
		c.recoveryRemaining = 0
		if anyLoss {
			return // those losses were counted in the episode that just ended
		}
	}
	switch {
	case anyLoss:
		c.episode++
		c.undoCwnd, c.undoSsthresh, c.undoLeft, c.undoOK = c.cwnd, c.ssthresh, lostFrags, true
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
	c.episode++ // a timeout is not undone
	c.undoLeft, c.undoOK = 0, false
	c.nakThreshold = initialNakThreshold // as TCP forgets the reordering it measured
	if idle {
		c.cwnd = cwndInitial
		return
	}
	c.ssthresh = max(outstanding/2, cwndInitial)
	c.cwnd = cwndTimedOut
}

// spurious records that a fragment declared lost in episode ep arrived after all: it was
// acknowledged before its retransmission left, or too soon after it for the
// acknowledgement to be of the retransmission. Loss detection becomes more tolerant of
// reordering; when every loss of the current episode proves spurious, its reduction is
// undone (as TCP undoes one on DSACKs or Eifel detection).
func (c *congestion) spurious(ep uint32) {
	c.nakThreshold = min(c.nakThreshold+c.nakThreshold/2+1, maxNakThreshold)
	if ep != c.episode || !c.undoOK || c.undoLeft <= 0 {
		return
	}
	c.undoLeft--
	if c.undoLeft > 0 {
		return
	}
	c.cwnd = max(c.cwnd, c.undoCwnd)
	c.ssthresh = max(c.ssthresh, c.undoSsthresh)
	c.recoveryRemaining, c.undoOK = 0, false
	c.undone++
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
