package core

import "hash/maphash"

// idSet is the set of token ids that a storeBuilder has indexed, used only to reject a
// duplicate id. It is an open-addressing table of token indexes rather than a
// map[string]struct{}, because inserting a million ids into a map took about a fifth of
// loading a million-token store (CPU profile of BenchmarkLoad in package bench), and the
// table needs no copy of the ids and one probe per insert in the common case.
type idSet struct {
	seed maphash.Seed
	// slots holds, per slot, the high 32 bits of the id's hash and the token index plus 1 in
	// the low 32 bits. 0 marks an empty slot.
	slots []uint64
	count int
}

// newIDSet returns an empty set sized for sizeHint ids.
func newIDSet(sizeHint int) *idSet {
	s := &idSet{seed: maphash.MakeSeed()}
	s.slots = make([]uint64, tableSize(sizeHint))
	return s
}

// tableSize returns the number of slots for n ids: a power of two at least twice n, so the
// table is at most half full and a probe sequence stays short.
func tableSize(n int) int {
	size := 16
	for size < 2*n {
		size <<= 1
	}
	return size
}

// add adds the id of tokens[i] and reports whether it was new. Every index in the set must be
// an index of tokens.
func (s *idSet) add(tokens []Token, i int) bool {
	if 2*(s.count+1) > len(s.slots) {
		s.grow(tokens)
	}
	id := tokens[i].ID
	h := maphash.String(s.seed, id)
	mask := uint64(len(s.slots) - 1)
	for j := h & mask; ; j = (j + 1) & mask {
		slot := s.slots[j]
		if slot == 0 {
			s.slots[j] = h&^0xffffffff | uint64(i+1)
			s.count++
			return true
		}
		if slot>>32 == h>>32 && tokens[slot&0xffffffff-1].ID == id {
			return false
		}
	}
}

// grow doubles the table and inserts every id again.
func (s *idSet) grow(tokens []Token) {
	old := s.slots
	s.slots = make([]uint64, 2*len(old))
	mask := uint64(len(s.slots) - 1)
	for _, slot := range old {
		if slot == 0 {
			continue
		}
		h := maphash.String(s.seed, tokens[slot&0xffffffff-1].ID)
		j := h & mask
		for s.slots[j] != 0 {
			j = (j + 1) & mask
		}
		s.slots[j] = slot
	}
}
