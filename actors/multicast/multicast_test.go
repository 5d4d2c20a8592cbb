package multicast

import (
	"net/netip"
	"strings"
	"testing"
)

const spec = "G:01010a0e6d756c74696361737400"

func TestParseMappings(t *testing.T) {
	got, err := ParseMappings(" live/cam=" + spec + ",/root=" + spec + ",live/a/b=" + spec + ",")
	if err != nil {
		t.Fatal(err)
	}
	want := []Mapping{{"live", "cam", spec}, {"", "root", spec}, {"live", "a/b", spec}}
	if len(got) != len(want) {
		t.Fatalf("%+v", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("%d: %+v, want %+v", i, got[i], want[i])
		}
	}
	if m, err := ParseMappings(""); err != nil || len(m) != 0 {
		t.Fatalf("empty: %v %v", m, err)
	}
	for in, why := range map[string]string{
		"live/cam":                               "app/stream=G:groupspec",
		"cam=" + spec:                            "app/stream before",
		"live/=" + spec:                          "app/stream before",
		"live/cam=G:zz":                          "group specifier",
		"live/cam=G:0101":                        "end-of-options",
		"live/cam=" + spec + ",live/cam=" + spec: "mapped twice",
	} {
		if _, err := ParseMappings(in); err == nil || !strings.Contains(err.Error(), why) {
			t.Errorf("%q: %v, want an error about %q", in, err, why)
		}
	}
}

func TestAnnounced(t *testing.T) {
	ap := netip.MustParseAddrPort
	if got := announced(ap("10.0.0.1:5000"), nil); got != ap("10.0.0.1:5000") {
		t.Fatal(got)
	}
	if got := announced(ap("0.0.0.0:5000"), []netip.AddrPort{ap("0.0.0.0:1935"), ap("192.0.2.7:1935")}); got != ap("192.0.2.7:5000") {
		t.Fatal(got)
	}
}
