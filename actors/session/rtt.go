package session

import "time"

// Retransmission timing (RFC 7016 §3.5.2.2 and Appendix A; the constants are the ones the
// RFC's author uses in rtmfp-cpp).
const (
	initialERTO    = 3 * time.Second
	minimumERTO    = 250 * time.Millisecond
	maximumERTO    = 10 * time.Second
	delayedAckTime = 200 * time.Millisecond
	timestampTick  = 4 * time.Millisecond
	maxEchoAge     = 128 * time.Second
)

// rttEstimator keeps the smoothed round-trip time and variation from timestamp echoes and
// derives the effective retransmission timeout (ERTO), with exponential back-off.
type rttEstimator struct {
	srtt, rttvar time.Duration
	min          time.Duration // smallest sample
	samples      int
	mrto, erto   time.Duration
}

func newRTTEstimator() rttEstimator {
	return rttEstimator{mrto: minimumERTO, erto: initialERTO}
}

// sample feeds one round-trip measurement.
func (r *rttEstimator) sample(rtt time.Duration) {
	if r.samples == 0 {
		r.srtt, r.rttvar = rtt, rtt/2
	} else {
		d := r.srtt - rtt
		if d < 0 {
			d = -d
		}
		r.rttvar = (3*r.rttvar + d) / 4
		r.srtt = (7*r.srtt + rtt) / 8
	}
	if r.samples == 0 || rtt < r.min {
		r.min = rtt
	}
	r.samples++
	r.mrto = r.srtt + 4*r.rttvar + delayedAckTime
	r.erto = max(r.mrto, minimumERTO)
}

// backoff lengthens the timeout after a retransmission timeout fired (×√2, bounded).
func (r *rttEstimator) backoff() {
	r.erto = min(r.erto*1414/1000, maximumERTO)
	r.erto = max(r.erto, r.mrto)
}

// smoothed returns the smoothed RTT, or a conservative guess before any sample.
func (r *rttEstimator) smoothed() time.Duration {
	if r.samples == 0 {
		return 200 * time.Millisecond
	}
	return r.srtt
}
