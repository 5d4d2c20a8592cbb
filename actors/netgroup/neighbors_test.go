package netgroup

import (
	"math/rand/v2"
	"sort"
	"testing"

	"github.com/actorrtmfp/actorrtmfp/cryptoutil"
)

// graph is an undirected graph of peer indices.
type graph struct {
	adj []map[int]bool
}

func (g *graph) edge(a, b int) {
	g.adj[a][b], g.adj[b][a] = true, true
}

func (g *graph) connected(alive []bool) bool {
	start := -1
	n := 0
	for i, a := range alive {
		if a {
			n++
			if start < 0 {
				start = i
			}
		}
	}
	if n == 0 {
		return true
	}
	seen := map[int]bool{start: true}
	stack := []int{start}
	for len(stack) > 0 {
		v := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		for w := range g.adj[v] {
			if alive[w] && !seen[w] {
				seen[w] = true
				stack = append(stack, w)
			}
		}
	}
	return len(seen) == n
}

func randomIDs(n int, seed uint64) []cryptoutil.PeerID {
	r := rand.New(rand.NewPCG(seed, seed))
	ids := make([]cryptoutil.PeerID, n)
	for i := range ids {
		for j := range ids[i] {
			ids[i][j] = byte(r.Uint32())
		}
	}
	return ids
}

// simulate joins n members one after the other, each introduced to the members the set
// picks; it returns the graph of introductions.
func simulate(n, max int, seed uint64) (*graph, []cryptoutil.PeerID, *neighborSet, map[cryptoutil.PeerID]int) {
	ids := randomIDs(n, seed)
	pos := map[cryptoutil.PeerID]int{}
	g := &graph{adj: make([]map[int]bool, n)}
	set := newNeighborSet(max, seed)
	for i, id := range ids {
		g.adj[i] = map[int]bool{}
		pos[id] = i
		for _, p := range set.pick(id) {
			if p == id || !set.has(p) {
				panic("picked a non-member or itself")
			}
			g.edge(i, pos[p])
		}
		set.add(id)
	}
	return g, ids, set, pos
}

func TestNeighborGraphOfTenThousandIsConnectedAndEven(t *testing.T) {
	const n, picks = 10000, 6
	g, _, _, _ := simulate(n, picks, 1)
	alive := make([]bool, n)
	for i := range alive {
		alive[i] = true
	}
	if !g.connected(alive) {
		t.Fatal("the introduction graph of 10,000 joins is not connected")
	}
	degrees := make([]int, n)
	sum := 0
	for i := range degrees {
		degrees[i] = len(g.adj[i])
		sum += degrees[i]
	}
	sort.Ints(degrees)
	mean := float64(sum) / n
	maxDeg, p99 := degrees[n-1], degrees[n*99/100]
	t.Logf("degree: mean %.1f, median %d, p99 %d, max %d, min %d", mean, degrees[n/2], p99, maxDeg, degrees[0])
	if degrees[0] < 1 {
		t.Fatal("a member has no neighbour at all")
	}
	if float64(maxDeg) > 2*mean || float64(p99) > 1.6*mean {
		t.Fatalf("degree spread too wide: mean %.1f p99 %d max %d", mean, p99, maxDeg)
	}
	ecc := g.eccentricity(5)
	t.Logf("hops from 5 members to the farthest: %v", ecc)
	for _, e := range ecc {
		if e > 12 {
			t.Fatalf("the mesh is stretched: %d hops to the farthest member", e)
		}
	}
	// For comparison, Cumulus' policy (5 newest + 1 random) on the same joins.
	cg := cumulusGraph(n, 1)
	cmax := 0
	for i := range cg.adj {
		cmax = max(cmax, len(cg.adj[i]))
	}
	t.Logf("Cumulus policy on the same joins: max degree %d, hops to the farthest %v", cmax, cg.eccentricity(5))
}

// eccentricity returns, for k members spread over the graph, the hop count to the member
// farthest from each.
func (g *graph) eccentricity(k int) []int {
	var out []int
	for s := 0; s < k; s++ {
		start := s * len(g.adj) / k
		dist := map[int]int{start: 0}
		queue := []int{start}
		far := 0
		for len(queue) > 0 {
			v := queue[0]
			queue = queue[1:]
			for w := range g.adj[v] {
				if _, ok := dist[w]; !ok {
					dist[w] = dist[v] + 1
					far = max(far, dist[w])
					queue = append(queue, w)
				}
			}
		}
		out = append(out, far)
	}
	return out
}

// cumulusGraph introduces each joiner to the 5 newest members and one random older one.
func cumulusGraph(n int, seed uint64) *graph {
	r := rand.New(rand.NewPCG(seed, 7))
	g := &graph{adj: make([]map[int]bool, n)}
	for i := 0; i < n; i++ {
		g.adj[i] = map[int]bool{}
		for j := i - 1; j >= 0 && j >= i-5; j-- {
			g.edge(i, j)
		}
		if i > 5 {
			g.edge(i, r.IntN(i-5))
		}
	}
	return g
}

func TestRingRepairKeepsTheGraphConnectedWhenMembersLeave(t *testing.T) {
	const n = 2000
	g, ids, set, pos := simulate(n, 6, 2)
	alive := make([]bool, n)
	for i := range alive {
		alive[i] = true
	}
	r := rand.New(rand.NewPCG(3, 3))
	for k := 0; k < n/2; k++ {
		i := r.IntN(n)
		if !alive[i] {
			continue
		}
		alive[i] = false
		if pred, succ, ok := set.remove(ids[i]); ok {
			g.edge(pos[pred], pos[succ]) // the server tells them about each other
		}
		if set.has(ids[i]) {
			t.Fatal("a removed member is still in the set")
		}
	}
	if !g.connected(alive) {
		t.Fatal("the remaining members are no longer connected")
	}
	// A member that left is never handed out again.
	for _, id := range randomIDs(500, 9) {
		for _, p := range set.pick(id) {
			if !alive[pos[p]] {
				t.Fatal("a departed member was handed out")
			}
		}
	}
}

func TestPickNeverReturnsSelfOrDuplicates(t *testing.T) {
	set := newNeighborSet(6, 4)
	ids := randomIDs(20, 5)
	for _, id := range ids {
		set.add(id)
	}
	for _, id := range ids {
		got := set.pick(id)
		if len(got) != 6 {
			t.Fatalf("picked %d of 19 others, want 6", len(got))
		}
		seen := map[cryptoutil.PeerID]bool{}
		for _, p := range got {
			if p == id || seen[p] {
				t.Fatalf("pick for %s returned itself or a duplicate", id)
			}
			seen[p] = true
		}
	}
	small := newNeighborSet(6, 6)
	small.add(ids[0])
	small.add(ids[1])
	if got := small.pick(ids[0]); len(got) != 1 || got[0] != ids[1] {
		t.Fatalf("a group of two: %v", got)
	}
}
