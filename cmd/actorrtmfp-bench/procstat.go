package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"
)

// procSample is what /proc says about a process at one moment.
type procSample struct {
	At     time.Time
	CPU    float64 // user + system CPU seconds (utime + stime)
	RSSKiB uint64  // VmRSS
	HWMKiB uint64  // VmHWM (peak RSS)
}

var (
	clkTckOnce sync.Once
	clkTck     = 100.0
)

// ticksPerSecond is the kernel's USER_HZ (getconf CLK_TCK; 100 almost everywhere).
func ticksPerSecond() float64 {
	clkTckOnce.Do(func() {
		out, err := exec.Command("getconf", "CLK_TCK").Output()
		if err != nil {
			return
		}
		if v, err := strconv.ParseFloat(strings.TrimSpace(string(out)), 64); err == nil && v > 0 {
			clkTck = v
		}
	})
	return clkTck
}

// sampleProc reads /proc/<pid>/stat and /proc/<pid>/status.
func sampleProc(pid int) (procSample, error) {
	s := procSample{At: time.Now()}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return s, err
	}
	// The command name (field 2) may hold spaces and parentheses: fields resume after
	// the last ')'. utime and stime are fields 14 and 15, i.e. the 12th and 13th after it.
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return s, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	f := strings.Fields(string(stat[i+1:]))
	if len(f) < 13 {
		return s, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	ut, err1 := strconv.ParseUint(f[11], 10, 64)
	st, err2 := strconv.ParseUint(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return s, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	s.CPU = float64(ut+st) / ticksPerSecond()
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return s, err
	}
	for _, line := range strings.Split(string(status), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		switch k {
		case "VmRSS":
			s.RSSKiB = kib(v)
		case "VmHWM":
			s.HWMKiB = kib(v)
		}
	}
	return s, nil
}

func kib(v string) uint64 {
	n, _ := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
	return n
}

// ServerFigures are the server process's figures over the measured phase, read from
// outside (-server-pid).
type ServerFigures struct {
	PID        int     `json:"pid"`
	CPUSeconds float64 `json:"cpu_s"`
	// CPUCores is CPUSeconds over the phase's wall time: how many cores it kept busy.
	CPUCores float64 `json:"cpu_cores"`
	// Op names what CPUPerOpMS divides by (handshake, call, delivered_media_message, …).
	Op          string  `json:"op,omitempty"`
	Ops         uint64  `json:"ops,omitempty"`
	CPUPerOpMS  float64 `json:"cpu_ms_per_op,omitempty"`
	RSSStartKiB uint64  `json:"rss_start_kib"`
	RSSEndKiB   uint64  `json:"rss_end_kib"`
	HWMEndKiB   uint64  `json:"hwm_end_kib"`
	// Connect with -hold: RSS once every session is open, and per held session.
	RSSOpenKiB            uint64  `json:"rss_open_kib,omitempty"`
	RSSPerSessionBytes    float64 `json:"rss_per_session_bytes,omitempty"`
	RSSPerSessionEndBytes float64 `json:"rss_per_session_end_bytes,omitempty"`
	// HoldCPUSeconds is the CPU of the hold (idle sessions: keepalives, timers, GC).
	HoldCPUSeconds float64  `json:"hold_cpu_s,omitempty"`
	Errors         []string `json:"errors,omitempty"`
}

// serverProbe samples the server process, if there is one, and collects read errors
// instead of failing the run.
type serverProbe struct {
	pid  int
	errs []string
}

// probeSample is the server's sample, the tool's own and the network counters, taken
// together.
type probeSample struct {
	procSample              // the server (zero without -server-pid)
	self       procSample   // this process
	others     []procSample // the other nodes of a cluster (-other-pids)
	net        netSample
}

func (p *serverProbe) sample() probeSample {
	self, _ := sampleProc(os.Getpid())
	ps := probeSample{procSample: procSample{At: time.Now()}, self: self, net: sampleUDP()}
	if p == nil || p.pid <= 0 {
		return ps
	}
	s, err := sampleProc(p.pid)
	if err != nil {
		p.errs = append(p.errs, err.Error())
	}
	ps.procSample = s
	return ps
}

// netSample holds counters of the tool's client sockets and of the host's UDP stack.
type netSample struct {
	clientIn, clientDropped, clientOut, clientResent uint64
	// System-wide (/proc/net/snmp): datagrams the kernel dropped for a full receive or
	// send buffer, whoever's socket it was.
	rcvbufErrors, sndbufErrors uint64
	haveSNMP                   bool
}

// sampleUDP reads the Udp line of /proc/net/snmp.
func sampleUDP() netSample {
	var n netSample
	b, err := os.ReadFile("/proc/net/snmp")
	if err != nil {
		return n
	}
	var names []string
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 || f[0] != "Udp:" {
			continue
		}
		if names == nil {
			names = f
			continue
		}
		for i := 1; i < len(f) && i < len(names); i++ {
			v, _ := strconv.ParseUint(f[i], 10, 64)
			switch names[i] {
			case "RcvbufErrors":
				n.rcvbufErrors, n.haveSNMP = v, true
			case "SndbufErrors":
				n.sndbufErrors = v
			}
		}
	}
	return n
}

// netFigures are the counters' increase over a phase.
func netFigures(start, end probeSample) map[string]uint64 {
	m := map[string]uint64{
		"client_datagrams_in":            end.net.clientIn - start.net.clientIn,
		"client_datagrams_dropped":       end.net.clientDropped - start.net.clientDropped,
		"client_packets_out":             end.net.clientOut - start.net.clientOut,
		"client_fragments_declared_lost": end.net.clientResent - start.net.clientResent,
	}
	if start.net.haveSNMP && end.net.haveSNMP {
		m["host_udp_rcvbuf_errors"] = end.net.rcvbufErrors - start.net.rcvbufErrors
		m["host_udp_sndbuf_errors"] = end.net.sndbufErrors - start.net.sndbufErrors
	}
	return m
}

// ToolFigures are the load tool's own figures over the measured phase: it shares the
// machine with the server when both run on one host.
type ToolFigures struct {
	CPUSeconds float64 `json:"cpu_s"`
	CPUCores   float64 `json:"cpu_cores"`
	RSSEndKiB  uint64  `json:"rss_end_kib"`
}

func toolFigures(start, end probeSample) *ToolFigures {
	t := &ToolFigures{CPUSeconds: round3(end.self.CPU - start.self.CPU), RSSEndKiB: end.self.RSSKiB}
	if wall := end.self.At.Sub(start.self.At).Seconds(); wall > 0 {
		t.CPUCores = round3(t.CPUSeconds / wall)
	}
	return t
}

// figures turns the samples at the start and end of the measured phase into figures.
func (p *serverProbe) figures(start, end probeSample, op string, ops uint64) *ServerFigures {
	if p == nil || p.pid <= 0 {
		return nil
	}
	f := &ServerFigures{PID: p.pid, CPUSeconds: round3(end.CPU - start.CPU), RSSStartKiB: start.RSSKiB,
		RSSEndKiB: end.RSSKiB, HWMEndKiB: end.HWMKiB, Op: op, Ops: ops, Errors: p.errs}
	if wall := end.At.Sub(start.At).Seconds(); wall > 0 {
		f.CPUCores = round3((end.CPU - start.CPU) / wall)
	}
	if ops > 0 {
		f.CPUPerOpMS = round4((end.CPU - start.CPU) * 1000 / float64(ops))
	}
	return f
}
