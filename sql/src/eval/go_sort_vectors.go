// Generates sql/src/eval/go_sort_vectors.txt (`go run go_sort_vectors.go > go_sort_vectors.txt`
// with Go 1.19, the Go of the reference influxd): for each (shape, n, seed), the permutation
// Go 1.19's sort.Sort leaves over keys(shape, n, seed), compared by key only.
package main

import (
	"fmt"
	"sort"
	"strings"
)

type item struct{ key, idx uint64 }
type byKey []item

func (a byKey) Len() int           { return len(a) }
func (a byKey) Less(i, j int) bool { return a[i].key < a[j].key }
func (a byKey) Swap(i, j int)      { a[i], a[j] = a[j], a[i] }

func keys(shape, n int, seed uint64) []uint64 {
	x := seed*0x9E3779B97F4A7C15 + 1
	next := func() uint64 {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		return x
	}
	out := make([]uint64, n)
	for i := range out {
		u := uint64(i)
		switch shape {
		case 0: // random, few distinct
			out[i] = next() % 7
		case 1: // random, many distinct
			out[i] = next() % uint64(n)
		case 2: // sorted with a few swaps
			out[i] = u
		case 3: // reversed
			out[i] = uint64(n) - u
		case 4: // organ pipe
			if i < n/2 {
				out[i] = u
			} else {
				out[i] = uint64(n) - u
			}
		case 5: // sawtooth
			out[i] = u % 17
		case 6: // all equal
			out[i] = 3
		case 7: // reversed, few distinct
			out[i] = (uint64(n) - u) / 5
		}
	}
	if shape == 2 && n > 3 {
		for k := 0; k < 3; k++ {
			a, b := next()%uint64(n), next()%uint64(n)
			out[a], out[b] = out[b], out[a]
		}
	}
	return out
}

func main() {
	for _, n := range []int{13, 45, 50, 64, 100, 257} {
		for shape := 0; shape < 8; shape++ {
			for seed := uint64(1); seed <= 2; seed++ {
				k := keys(shape, n, seed)
				a := make([]item, n)
				for i := range a {
					a[i] = item{k[i], uint64(i)}
				}
				sort.Sort(byKey(a))
				idx := make([]string, n)
				for i := range a {
					idx[i] = fmt.Sprint(a[i].idx)
				}
				fmt.Printf("%d %d %d %s\n", shape, n, seed, strings.Join(idx, ","))
			}
		}
	}
}
